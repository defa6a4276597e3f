"""Genre probabilities: the battle genres, from a pinned model that rebuilds bit for bit from its table."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from djmesh.dsp import analyze_pcm
from djmesh.dsp.genre import GENRES, MODEL_PATH, MODEL_SHA256, GenreModel, GenreModelError, top_genre
from djmesh.dsp.genre_model import build_from_table
from djmesh.protocol.battle import GENRES as BATTLE_GENRES
from tests.helpers.audio import SR, drum_pattern


def test_the_model_reads_the_battle_genres() -> None:
    assert set(GENRES) == set(BATTLE_GENRES)


def test_the_shipped_model_is_pinned_and_rebuilds_from_its_table() -> None:
    data = MODEL_PATH.read_bytes()
    assert hashlib.sha256(data).hexdigest() == MODEL_SHA256
    assert build_from_table() == data


def test_an_altered_model_is_refused(tmp_path: Path) -> None:
    data = bytearray(MODEL_PATH.read_bytes())
    data[-5] ^= 1
    altered = tmp_path / "genre.onnx"
    altered.write_bytes(bytes(data))
    with pytest.raises(GenreModelError, match="SHA-256"):
        GenreModel(altered, sha256=MODEL_SHA256)


@pytest.mark.parametrize(
    ("bpm", "style", "genre"), [(125.0, "house", "house"), (90.0, "syncopated", "hiphop")]
)
def test_analysis_reports_a_probability_per_genre(bpm: float, style: str, genre: str) -> None:
    drums, _ = drum_pattern(bpm, 40.0, style=style)
    probs = analyze_pcm(drums, SR)["genre"]
    assert isinstance(probs, dict)
    assert list(probs) == sorted(BATTLE_GENRES)
    assert abs(sum(probs.values()) - 1.0) <= 0.01
    assert top_genre(probs)[0] == genre
