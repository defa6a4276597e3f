"""A blend of two tracks in clashing keys is a harmonic finding at that blend; a blend into a
neighbouring key on the Camelot wheel is not."""

from __future__ import annotations

import numpy as np

from djmesh.dsp.analysis import blend_keys
from djmesh.dsp.features import extract, pcm_blocks
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


def test_the_keys_at_a_blend_are_read_around_it_not_over_the_whole_tracks() -> None:
    # 30 s in F# major then 30 s in C major: around a blend at 26-34 s the outgoing side is heard
    # in F# and the incoming in C, whatever either key is elsewhere
    drums, _ = drum_pattern(124.0, 60.0, style="house", start=0.1)
    chords = np.concatenate([chord_progression(66, False, 30.0), chord_progression(60, False, 30.0)])
    feats = extract(pcm_blocks((drums + chords).astype(np.float32), SR), SR, 1)
    assert blend_keys(feats, 26.0, 34.0, 0.0, 60.0) == ("F# major", "C major")
    assert blend_keys(feats, 46.0, 54.0, 30.0, 60.0) == ("C major", "C major")


def _two_tracks(whole: tuple[str, str], at_blend: tuple[str, str]) -> dict[str, object]:
    return {
        "tracks": [
            {"start": 0.0, "end": 100.0, "bpm": 124.0, "key": whole[0]},
            {"start": 100.0, "end": 200.0, "bpm": 124.0, "key": whole[1]},
        ],
        "transitions": [
            {
                "start": 92.0,
                "end": 108.0,
                "centre": 100.0,
                "beat_offset_ms": 0.0,
                "key_out": at_blend[0],
                "key_in": at_blend[1],
            }
        ],
    }


def test_the_clash_finding_judges_the_keys_heard_at_the_blend() -> None:
    rules = JudgeRules(tracks=2)
    # whole tracks in one key, but the incoming one enters on a clashing key: found
    clashing = [f for f in find(_two_tracks(("C major", "C major"), ("C major", "F# major")), rules)]
    assert [f.text for f in clashing if f.criterion == "harmonic"] == [
        "1:32-1:48: the keys clash during the blend: C major (8B) into F# major (2B), "
        "6 steps apart on the Camelot wheel"
    ]
    # whole-track keys that clash, but the blend itself is between neighbours: nothing to say
    fine = find(_two_tracks(("C major", "C# major"), ("C major", "G major")), rules)
    assert [f for f in fine if f.criterion == "harmonic"] == []
    # an analysis without blend keys (an older one) falls back to the tracks' keys
    old = _two_tracks(("C major", "C# major"), ("", ""))
    assert [f.criterion for f in find(old, rules)].count("harmonic") == 1
