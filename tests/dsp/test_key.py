"""Key over 24 keys from synthesized chord progressions, and Camelot notation."""

from __future__ import annotations

import numpy as np
import pytest

from djmesh.dsp import analyze_pcm
from djmesh.dsp.key import PITCH_NAMES, camelot, estimate_key
from tests.helpers.audio import chord_progression


@pytest.mark.parametrize("minor", [False, True])
@pytest.mark.parametrize("tonic", range(12))
def test_chord_progression_key(tonic: int, minor: bool) -> None:
    x = chord_progression(60 + tonic, minor, 8.0)
    r = analyze_pcm(x, 44100)
    assert r["key"] == f"{PITCH_NAMES[tonic]} {'minor' if minor else 'major'}"
    assert r["camelot"] == camelot(tonic, minor)
    assert 0.0 < float(r["key_confidence"]) <= 1.0  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("tonic", "minor", "code"),
    [
        (0, False, "8B"),
        (9, True, "8A"),
        (7, False, "9B"),
        (4, True, "9A"),
        (11, False, "1B"),
        (8, True, "1A"),
        (5, False, "7B"),
        (2, True, "7A"),
        (6, False, "2B"),
        (3, True, "2A"),
    ],
)
def test_camelot_wheel(tonic: int, minor: bool, code: str) -> None:
    assert camelot(tonic, minor) == code


def test_flat_chroma_has_no_key() -> None:
    assert estimate_key(np.ones(12)) is None
    assert estimate_key(np.zeros(12)) is None


def test_bass_only_minor_riff_is_minor() -> None:
    # A natural-minor sawtooth bass riff (A C E G), the way a techno bassline states its key
    sr = 44100
    notes = [45, 48, 52, 55, 45, 52, 48, 45]
    out = []
    for m in notes * 4:
        t = np.arange(int(0.25 * sr)) / sr
        f = 440.0 * 2 ** ((m - 69) / 12)
        out.append(((2 * ((f * t) % 1.0) - 1) * 0.2 * np.exp(-t * 6)).astype(np.float32))
    r = analyze_pcm(np.concatenate(out), sr)
    assert r["key"] == "A minor"
