"""The judge flags a set that does not sound like its battle's genre, as a flag and as a finding."""

from __future__ import annotations

from typing import Any

from djmesh.judge.features import set_features
from djmesh.judge.findings import find
from djmesh.protocol.battle import Rules


def _analysis(genre: dict[str, float]) -> dict[str, Any]:
    tracks = [{"start": 0.0, "end": 60.0, "bpm": 170.0, "key": "A minor"}]
    return {"tracks": tracks, "transitions": [], "levels_db": [-12.0] * 60, "downbeats": [], "genre": genre}


DNB = {"dnb": 0.9, "dubstep": 0.02, "hiphop": 0.05, "house": 0.01, "techno": 0.01, "trance": 0.01}


def test_a_set_of_another_genre_is_flagged_and_found() -> None:
    rules = Rules.for_genre("house", tracks=1)
    flags = set_features(_analysis(DNB), rules).flags
    assert [f for f in flags if f.startswith("genre:")] == [
        "genre: the set sounds like dnb (90%), not house (1%) as the battle asks"
    ]
    found = [f for f in find(_analysis(DNB), rules) if "sounds like" in f.text]
    assert [(f.at_s, f.criterion) for f in found] == [(0.0, "rules")]


def test_a_set_of_the_battles_genre_is_not_flagged() -> None:
    rules = Rules.for_genre("dnb", tracks=1)
    assert not any(f.startswith("genre:") for f in set_features(_analysis(DNB), rules).flags)
    assert not any("sounds like" in f.text for f in find(_analysis(DNB), rules))


def test_an_analysis_without_genre_probabilities_is_not_flagged() -> None:
    analysis = _analysis(DNB)
    del analysis["genre"]
    assert not any(
        f.startswith("genre:") for f in set_features(analysis, Rules.for_genre("house", tracks=1)).flags
    )
