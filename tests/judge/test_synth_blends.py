"""Blend styles of the set builder: what each leaves in the mix, and the default left exactly as it was."""

from __future__ import annotations

import hashlib
import itertools

import numpy as np
import pytest
from scipy import signal

from djmesh.judge.synth import (
    ECHO_BARS,
    F64,
    LMMS,
    BlendStyle,
    BuiltSet,
    Defects,
    SetSpec,
    TrackMaker,
    build_set,
    clean,
    train_wreck,
)

RATE = 8000
BPM = 120.0
BAR = 4 * 60.0 / BPM


def _noise_track(index: int, bpm: float, bars: int, rate: int) -> F64:
    """Decaying noise bursts on the beat over a low sine: deterministic, and with lows and highs."""
    rng = np.random.default_rng(index)
    n = int(round(bars * 4 * 60.0 / bpm * rate))
    t = np.arange(n) / rate
    beat = 60.0 / bpm
    return 0.1 * rng.standard_normal(n) * np.exp(-8.0 * (t % beat)) + 0.05 * np.sin(
        2 * np.pi * (55 + 10 * index) * t
    )


def _only(keep: int) -> TrackMaker:
    """A track maker where every track but ``keep`` is silence: the mix then shows that track's envelope."""

    def make(index: int, bpm: float, bars: int, rate: int) -> F64:
        x = _noise_track(index, bpm, bars, rate)
        return x if index == keep else np.zeros_like(x)

    return make


def _build(style: BlendStyle, keep: int, fade_bars: int = 4) -> BuiltSet:
    spec = SetSpec(bpm=BPM, tracks=3, bars_per_track=16, defects=Defects(fade_bars=fade_bars, blend=style))
    return build_set(spec, rate=RATE, make_track=_only(keep))


def _rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(x.astype(np.float64)))))


# sha256 of build_set's samples before blend styles existed (commit e45fa52), generated tracks at 8 kHz
PINNED = (
    (clean(), "b6bdc854ca3274d6bea02af4f3b04c31d5e8fe70640c45098ea5bee5af451d29"),
    (train_wreck(), "f7fdf6b48593a3fa353927770b7b4760502ed7068ee0e122b953da43cb5bce70"),
    (
        SetSpec(
            bpm=90,
            tracks=4,
            bars_per_track=12,
            seed=3,
            defects=Defects(
                fade_bars=4,
                only_transition=2,
                gain_jump_db=6,
                tempo_spread=0.03,
                phase_ms=50,
                bar_shift_beats=1,
            ),
        ),
        "d176b18fe4a7b9d4af659f4f3f0ddfca33364362bb4cfebeaf4147d0abe067e3",
    ),
)


@pytest.mark.parametrize(("spec", "digest"), PINNED)
def test_default_linear_blend_renders_the_same_bytes_as_before(spec: SetSpec, digest: str) -> None:
    # the judge's committed training table and model hash come from these sets
    built = build_set(spec, rate=RATE, make_track=_noise_track)
    assert hashlib.sha256(built.samples.tobytes()).hexdigest() == digest


def test_default_lmms_set_renders_the_same_bytes_as_before() -> None:
    if not (LMMS / "beats").is_dir():
        pytest.skip("lmms-common loops not installed (apt-get install lmms-common); CI installs them")
    built = build_set(clean())
    assert hashlib.sha256(built.samples.tobytes()).hexdigest() == (
        "93fd429476318234b8eb400f2d5356c47f79e6cf378d44938008b07745cf3974"
    )


def test_linear_centres_are_the_middle_of_the_crossfade() -> None:
    built = build_set(SetSpec(bpm=BPM, tracks=3, bars_per_track=16), rate=RATE, make_track=_noise_track)
    fade = 8 * BAR
    assert built.centres == pytest.approx([c + fade / 2 for c in built.cues[1:]])


@pytest.mark.parametrize("style", ["cut", "echo_out"])
@pytest.mark.parametrize("fade_bars", [1, 4, 5])
def test_cut_and_echo_out_fall_on_a_bar_line(style: BlendStyle, fade_bars: int) -> None:
    built = _build(style, keep=1, fade_bars=fade_bars)
    for cue, centre in zip(built.cues[1:], built.centres, strict=True):
        bars = (centre - cue) / BAR
        assert bars == pytest.approx(round(bars), abs=1e-9)
        assert cue <= centre < cue + fade_bars * BAR


def test_a_cut_leaves_no_overlap() -> None:
    built = _build("cut", keep=1)
    x = np.abs(built.samples)
    c_in, c_out = (int(round(c * RATE)) for c in built.centres)
    heard = np.flatnonzero(x > 0)
    # the middle track is heard from its cut in to its cut out, not a sample outside (5 ms ramps inside)
    assert heard[0] >= c_in and heard[-1] < c_out
    assert heard[0] - c_in < 0.01 * RATE and c_out - heard[-1] < 0.01 * RATE


def _lows(x: np.ndarray) -> np.ndarray:
    sos = signal.butter(4, 100.0, "lowpass", fs=RATE, output="sos")
    return signal.sosfiltfilt(sos, x.astype(np.float64))


def test_eq_swap_outgoing_has_no_lows_after_the_midpoint() -> None:
    built = _build("eq_swap", keep=0)
    x = built.samples
    mid = int(round(built.centres[0] * RATE))
    end = int(round((built.cues[1] + 4 * BAR) * RATE))
    lows = _lows(x)
    before, after = lows[mid - 2 * RATE : mid - RATE // 10], lows[mid + RATE // 10 : end]
    assert _rms(after) < 0.01 * _rms(before)
    # its highs go on past the midpoint, fading to nothing at the end of the blend
    highs = x - lows
    assert _rms(highs[mid + RATE // 10 : mid + RATE]) > 0.3 * _rms(highs[mid - RATE : mid - RATE // 10])
    assert np.all(x[end:] == 0)


def test_eq_swap_incoming_has_no_lows_before_the_midpoint() -> None:
    built = _build("eq_swap", keep=1)
    x = built.samples
    start, mid = int(round(built.cues[1] * RATE)), int(round(built.centres[0] * RATE))
    assert np.all(x[:start] == 0)
    lows = _lows(x)
    assert _rms(lows[start : mid - RATE // 10]) < 0.01 * _rms(lows[mid + RATE // 10 : mid + 2 * RATE])
    highs = x - lows
    assert _rms(highs[start : start + RATE]) < _rms(highs[mid - RATE : mid])  # the highs fade in


def test_echo_out_tail_decays_after_the_outgoing_stops() -> None:
    built = _build("echo_out", keep=0)
    x = built.samples
    stop = int(round(built.centres[0] * RATE))
    beat = int(round(60.0 / BPM * RATE))
    dry = _rms(x[stop - beat : stop])
    repeats = [_rms(x[stop + k * beat : stop + (k + 1) * beat]) for k in range(4 * ECHO_BARS)]
    assert repeats[0] == pytest.approx(0.5 * dry, rel=0.05)
    assert all(b < a for a, b in itertools.pairwise(repeats))
    assert np.all(x[stop + 4 * ECHO_BARS * beat + 1 :] == 0)


def test_echo_out_incoming_starts_where_the_outgoing_stops() -> None:
    built = _build("echo_out", keep=1)
    heard = np.flatnonzero(np.abs(built.samples) > 0)
    assert heard[0] >= int(round(built.centres[0] * RATE))


def test_tracks_too_short_for_their_blends_are_refused() -> None:
    with pytest.raises(ValueError, match="cannot hold"):
        build_set(SetSpec(bars_per_track=15, defects=Defects(fade_bars=8)), make_track=_noise_track)
