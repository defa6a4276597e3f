"""A blend of two tracks in clashing keys is a harmonic finding at that blend; a blend into a
neighbouring key on the Camelot wheel is not."""

from __future__ import annotations

import numpy as np

from djmesh.judge.analysis import analyse
from djmesh.judge.features import JudgeRules
from djmesh.judge.findings import find
from tests.helpers.audio import SR, chord_progression, crossfade_mix, drum_pattern

NEAR_S = 4.0


def test_the_blend_whose_keys_clash_is_found_and_only_that_one() -> None:
    tracks = []
    # C major -> G major (a neighbour: fine) -> C# major (6 steps from G major: a clash)
    for bpm, style, tonic in ((124.0, "house", 60), (124.0, "syncopated", 67), (124.0, "house", 61)):
        drums, _ = drum_pattern(bpm, 60.0, style=style, start=0.1)
        tracks.append(((drums + chord_progression(tonic, False, 60.0)).astype(np.float32), bpm, 0.1))
    mix, truth = crossfade_mix(tracks, fade_s=12.0)
    analysis = analyse((mix, SR))
    keys = [t["key"] for t in analysis["tracks"]]
    assert keys == ["C major", "G major", "C# major"], analysis["tracks"]
    clashes = [f for f in find(analysis, JudgeRules(tracks=3)) if f.criterion == "harmonic"]
    assert len(clashes) == 1, clashes
    assert abs(clashes[0].at_s - truth[1]["start"]) <= NEAR_S
    assert "G major (9B) into C# major (3B)" in clashes[0].text
