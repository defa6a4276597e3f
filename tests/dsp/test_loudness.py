"""EBU R128 loudness, true peak and clipping against values fixed by the standard."""

from __future__ import annotations

import numpy as np
import pytest

from djmesh.dsp import analyze_pcm
from djmesh.dsp.loudness import LoudnessMeter, integrated_loudness
from tests.helpers.audio import sine


def _measure(x: np.ndarray, rate: int, chunk: int = 4096):  # type: ignore[no-untyped-def]
    x2 = x if x.ndim == 2 else x[None, :]
    m = LoudnessMeter(rate, x2.shape[0])
    for i in range(0, x2.shape[1], chunk):
        m.push(np.ascontiguousarray(x2[:, i : i + chunk]))
    return m.result()


@pytest.mark.parametrize("rate", [44100, 48000])
def test_full_scale_997hz_sine_is_minus_3_01_lufs_per_channel(rate: int) -> None:
    # BS.1770: a 0 dBFS 997 Hz sine in one channel reads -3.01 LKFS
    res = _measure(sine(997.0, 10.0, sr=rate, amplitude=1.0), rate)
    assert res.integrated_lufs == pytest.approx(-3.01, abs=0.02)


def test_stereo_sine_in_both_channels_adds_3_db() -> None:
    x = sine(997.0, 10.0, sr=48000, amplitude=1.0)
    res = _measure(np.stack([x, x]), 48000)
    assert res.integrated_lufs == pytest.approx(0.0, abs=0.02)


def test_minus_20_dbfs_sine_reads_minus_23_lufs() -> None:
    res = _measure(sine(997.0, 10.0, sr=48000, amplitude=0.1), 48000)
    assert res.integrated_lufs == pytest.approx(-23.01, abs=0.02)


def test_relative_gate_ignores_quiet_passage() -> None:
    loud = sine(997.0, 10.0, sr=48000, amplitude=0.1)
    quiet = sine(997.0, 10.0, sr=48000, amplitude=0.001)  # -60 dBFS: 37 LU below, gated out
    res = _measure(np.concatenate([loud, quiet]), 48000)
    # 97 fully loud 400 ms blocks plus three straddling ones at 3/4, 1/2, 1/4 power pass the gate
    expected = -23.01 + 10 * np.log10((97 + 0.75 + 0.5 + 0.25) / 100)
    assert res.integrated_lufs == pytest.approx(expected, abs=0.01)


def test_silence_is_gated_to_minus_infinity() -> None:
    assert integrated_loudness(np.zeros((100, 1))) == -np.inf


def test_true_peak_finds_intersample_peak() -> None:
    # fs/4 sine at 45 degrees: every sample sits at 0.707 but the waveform reaches 1.0
    rate = 48000
    t = np.arange(rate * 2) / rate
    x = np.sin(2 * np.pi * 12000.0 * t + np.pi / 4).astype(np.float32)
    res = _measure(x, rate)
    assert 20 * np.log10(res.sample_peak) == pytest.approx(-3.01, abs=0.01)
    assert res.true_peak_dbtp == pytest.approx(0.0, abs=0.2)


def test_clipped_fraction_counts_full_scale_samples() -> None:
    rate = 48000
    x = np.clip(2.0 * sine(997.0, 4.0, sr=rate), -1.0, 1.0)
    res = _measure(x, rate)
    expected = float(np.mean(np.abs(2.0 * sine(997.0, 4.0, sr=rate)) >= 1.0))
    assert res.clipped_fraction == pytest.approx(expected, rel=0.02)
    assert 0.6 < res.clipped_fraction < 0.7  # a sine driven 6 dB into the rails clips 2/3 of the time


def test_analysis_reports_loudness_fields() -> None:
    r = analyze_pcm(sine(997.0, 5.0, sr=48000, amplitude=0.1), 48000)
    assert r["loudness_lufs"] == pytest.approx(-23.01, abs=0.02)
    assert r["true_peak_dbtp"] == pytest.approx(-20.0, abs=0.05)
    assert r["clipped_fraction"] == 0.0


def _oversampled_peak(x: np.ndarray) -> float:
    """4x true peak the plain way: every gap of every channel interpolated, and the samples."""
    from djmesh.dsp.loudness import _oversampling_phases

    reversed_phases = _oversampling_phases()[:, ::-1]
    taps = reversed_phases.shape[1]
    windows = np.lib.stride_tricks.sliding_window_view(x.astype(np.float64), taps, axis=1)
    return max(float(np.abs(windows @ reversed_phases.T).max()), float(np.abs(x).max()))


@pytest.mark.parametrize("loudest", range(6))
@pytest.mark.parametrize("channel", [0, 1])
def test_true_peak_at_the_edge_of_a_searched_stretch_is_found(loudest: int, channel: int) -> None:
    # The search first skips 64-sample stretches with no sample near the running peak: a burst on
    # the last or first sample of a stretch ([6 + 64 k, 70 + 64 k)) must still be the one that counts.
    x = np.zeros((2, 4096), np.float32)
    # bursts of two samples, the louder one on a stretch's edge and the softer one across it
    for i, (edge, across) in enumerate(
        ((69, 70), (134, 133), (261, 262), (326, 325), (1029, 1030), (4038, 4037))
    ):
        level = 0.9 if i == loudest else 0.5 + 0.05 * i
        x[channel, edge], x[channel, across] = level, 0.8 * level  # the peak lies between the two
    res = _measure(x, 48000, chunk=4096)
    expected = _oversampled_peak(x)
    assert expected > 0.95  # the loudest burst's inter-sample peak rises above its samples
    assert 10 ** (res.true_peak_dbtp / 20) == pytest.approx(expected, rel=1e-6)


def test_a_nan_in_float_input_does_not_hide_the_true_peak_of_its_stretch() -> None:
    # float files can hold NaN: it is no peak itself, and the stretch's check must still see the burst
    x = np.zeros((2, 4096), np.float32)
    x[0, 200], x[0, 201] = 0.9, 0.72
    clean = _oversampled_peak(x)
    x[0, 184] = x[1, 215] = np.nan  # before and after the burst, beyond its interpolation windows
    x[0, 250] = np.nan  # in the burst's stretch, outside its windows
    res = _measure(x, 48000, chunk=4096)
    assert 10 ** (res.true_peak_dbtp / 20) == pytest.approx(clean, rel=1e-6)
