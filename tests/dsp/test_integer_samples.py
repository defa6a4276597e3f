"""A WAV file's integer samples reach the loudness meter as they are (no float copy): the meter and
the whole feature pass must give exactly what the float32 samples give."""

from __future__ import annotations

import numpy as np

from djmesh.dsp.decode import PcmBlock
from djmesh.dsp.features import FeatureExtractor
from djmesh.dsp.loudness import LoudnessMeter

SCALE = 1.0 / 32768.0


def _pcm(seconds: float = 6.0, rate: int = 44100) -> np.ndarray:
    rng = np.random.default_rng(7)
    t = np.arange(int(seconds * rate)) / rate
    x = 0.9 * np.sin(2 * np.pi * 997 * t)[None, :] * np.array([[1.0], [0.7]]) + 0.2 * rng.standard_normal(
        (2, t.size)
    )
    return np.round(np.clip(x, -1, 1 - 1 / 32768) * 32767).astype(np.int16)  # clips: exercises clipping


def _floats(ints: np.ndarray) -> np.ndarray:
    return np.multiply(ints, np.float32(SCALE), dtype=np.float32)


def test_meter_reads_integers_exactly_as_their_floats() -> None:
    ints = _pcm()
    a, b = LoudnessMeter(44100, 2), LoudnessMeter(44100, 2)
    for i in range(0, ints.shape[1], 30000):
        a.push(ints[:, i : i + 30000], SCALE)
        b.push(_floats(ints[:, i : i + 30000]))
    assert a.result() == b.result()
    assert a.result().clipped_fraction > 0 and a.result().clipped_seconds


def test_feature_pass_mixes_integer_and_float_blocks() -> None:
    """A stream whose blocks change format midway (integer, then float) loses nothing."""
    ints = _pcm()
    mono = np.zeros(2400, np.float32)
    mixed, floats = FeatureExtractor(44100, 2), FeatureExtractor(44100, 2)
    for k, i in enumerate(range(0, ints.shape[1], 4410)):
        part = ints[:, i : i + 4410]
        mixed.push(PcmBlock(part, mono, SCALE) if k % 3 else PcmBlock(_floats(part), mono))
        floats.push(PcmBlock(_floats(part), mono))
    assert mixed.finish().loudness == floats.finish().loudness
