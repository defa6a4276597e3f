"""The judge's features from an analysis: what two renderings of one set must read alike."""

from __future__ import annotations

import math
from typing import Any

from djmesh.judge.features import JudgeRules, set_features

RATE = 5.0  # level frames per second, as ``judge.analysis`` keeps them
BAR_S = 240.0 / 85.0


def _loop_db(t: float, gain_db: float) -> float:
    """A sparse 85 BPM loop: each bar's first half 6 dB louder than its second."""
    return gain_db + (-10.0 if (t % BAR_S) < BAR_S / 2 else -16.0)


def _two_tracks(shift_s: float, gain_db: float = 0.0, frames: bool = True) -> dict[str, Any]:
    """Two tracks of that loop (the second ``gain_db`` louder) blended over 60-75 s, with the blend's found
    ends moved by ``shift_s`` (where two renderings of one set put them)."""
    n = int(150 * RATE)
    fine = [round(_loop_db(i / RATE, gain_db if i / RATE >= 67.5 else 0.0), 1) for i in range(n)]
    seconds = [
        round(10.0 * math.log10(sum(10.0 ** (v / 10.0) for v in fine[k * 5 : k * 5 + 5]) / 5), 1)
        for k in range(n // 5)
    ]
    start, end = 60.0 + shift_s, 75.0 + shift_s
    analysis: dict[str, Any] = {
        "tracks": [
            {"start": 0.0, "end": end, "bpm": 85.0, "key": "A minor"},
            {"start": start, "end": 150.0, "bpm": 85.0, "key": "A minor"},
        ],
        "transitions": [{"start": start, "end": end, "centre": (start + end) / 2, "beat_offset_ms": 0.0}],
        "levels_db": seconds,
        "downbeats": [],
    }
    if frames:
        analysis["level_frames_db"] = fine
        analysis["level_frame_rate"] = RATE
    return analysis


def _step(analysis: dict[str, Any]) -> float:
    return set_features(analysis, JudgeRules()).as_dict()["max_jump_db"]


def test_a_tracks_level_does_not_move_with_where_its_blends_end() -> None:
    """A loop's level is read over whole bars of its tempo, so moving a blend's ends by a fraction of a
    second (as two renderings of one set do) leaves the level step between two equal tracks at ~0 dB; a
    median of seconds read steps up to a few tenths of a dB apart for the same tracks."""
    shifts = [k * 0.2 for k in range(8)]
    by_bars = [_step(_two_tracks(s)) for s in shifts]
    by_seconds = [_step(_two_tracks(s, frames=False)) for s in shifts]
    assert max(by_bars) <= 0.1
    assert max(by_seconds) - min(by_seconds) >= 0.3  # what the bars are for
    # a real gain change still reads in full
    assert all(abs(_step(_two_tracks(s, gain_db=3.0)) - 3.0) <= 0.1 for s in shifts)


def test_a_blend_is_heard_against_whole_bars_either_side() -> None:
    """The level a blend's bump or dip is measured against does not move with its ends either."""
    bumps = [set_features(_two_tracks(k * 0.2), JudgeRules()).as_dict()["fade_bump_db"] for k in range(8)]
    assert max(bumps) - min(bumps) <= 0.15  # medians of the seconds either side: 0.275
