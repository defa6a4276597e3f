"""One recording, one key: a track both sets play is judged on one key, read from both plays."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

from djmesh.dsp.key import (
    PROFILES,
    KeyEvidence,
    estimate_key,
    key_evidence,
    pooled_key,
    summarise_chroma,
    tonic_triad_shares,
)
from djmesh.judge.scoring import judge_sets
from djmesh.judge.shared_keys import read_together, same_recordings
from djmesh.judge.synth import LMMS, Defects, SetSpec, build_set
from djmesh.protocol.battle import Rules

SHAPE = [6.0, 4.0, 1.0, -2.0, -4.0, -5.0]


MAJOR = np.asarray(PROFILES["edm"][0])


def _frames(chroma: np.ndarray, n: int = 60, seed: int = 0) -> np.ndarray:
    """Chroma frames around one profile, with a little noise."""
    rng = np.random.default_rng(seed)
    return (chroma[None, :] * (1.0 + 0.02 * rng.standard_normal((n, 12)))).clip(0.0).astype(np.float32)


def _major(tonic: int) -> np.ndarray:
    return np.roll(MAJOR, tonic)


def _between_d_and_a(t: float) -> np.ndarray:
    """D major and A major share six notes: between them the best key flips (at t = 0.55 here)."""
    return (1.0 - t) * _major(2) + t * _major(9)


def _track(frames: np.ndarray, shape: list[float] = SHAPE) -> dict[str, Any]:
    evidence = key_evidence(frames)
    assert evidence is not None
    key = estimate_key(summarise_chroma(frames), triads=tonic_triad_shares(frames))
    assert key is not None
    return {"key": key.name, "key_evidence": evidence.as_json(), "timbre_db": list(shape)}


def test_a_near_tie_read_alone_differs_between_plays_and_read_together_agrees() -> None:
    play_a = _track(_frames(_between_d_and_a(0.54)))
    play_b = _track(_frames(_between_d_and_a(0.56), seed=1))
    assert (play_a["key"], play_b["key"]) == ("D major", "A major"), "the premise: alone they differ"
    a, b = read_together({"tracks": [play_a]}, {"tracks": [play_b]})
    assert a["tracks"][0]["key"] == b["tracks"][0]["key"] in ("D major", "A major")
    assert (play_a["key"], play_b["key"]) == ("D major", "A major"), "the inputs are left alone"


def test_pooling_one_play_reads_what_the_track_read_alone() -> None:
    for chroma in (_between_d_and_a(0.54), _between_d_and_a(0.56), _major(0), _major(5)[::-1].copy()):
        frames = _frames(chroma)
        evidence = key_evidence(frames)
        assert evidence is not None
        alone = estimate_key(summarise_chroma(frames), triads=tonic_triad_shares(frames))
        pooled = pooled_key([evidence])
        assert alone is not None and pooled is not None
        assert pooled.name == alone.name


def test_different_records_keep_their_own_keys() -> None:
    c_major, f_sharp = _track(_frames(_major(0))), _track(_frames(_major(6)))
    assert same_recordings([c_major], [f_sharp]) == []
    # the same notes with another sound (a piano against a bass-heavy loop) are other records too
    other_sound = {**c_major, "timbre_db": [-5.0, -4.0, -2.0, 1.0, 4.0, 6.0]}
    assert same_recordings([c_major], [other_sound]) == []
    a, b = read_together({"tracks": [c_major]}, {"tracks": [f_sharp]})
    assert (a["tracks"][0]["key"], b["tracks"][0]["key"]) == (c_major["key"], f_sharp["key"])


def test_each_track_pairs_once_with_the_play_most_like_it() -> None:
    record = _frames(_between_d_and_a(0.3))
    near = _track(record)
    also_near = _track(_frames(_between_d_and_a(0.4), seed=3))
    louder_copy = _track(record * 2.0, [v + 3.0 for v in SHAPE])  # level is not what tells records apart
    pairs = same_recordings([near, also_near], [louder_copy])
    assert pairs == [(0, 0)]


@pytest.mark.parametrize(
    "evidence",
    [
        None,
        "D major",
        {"chroma": [0.1] * 11, "triads": [0.0] * 24, "frames": 10},
        {"chroma": [0.1] * 12, "triads": [0.0] * 24, "frames": True},
        {"chroma": [0.1] * 12, "triads": [0.0] * 24, "frames": 0},
        {"chroma": [0.1] * 12, "triads": [0.0] * 24, "frames": 10**9},
        {"chroma": [math.nan] + [0.1] * 11, "triads": [0.0] * 24, "frames": 10},
        {"chroma": [-0.1] + [0.1] * 11, "triads": [0.0] * 24, "frames": 10},
        {"chroma": ["x"] * 12, "triads": [0.0] * 24, "frames": 10},
    ],
)
def test_odd_evidence_pairs_with_nothing(evidence: object) -> None:
    good = _track(_frames(_major(2)))
    odd = {**good, "key_evidence": evidence}
    assert KeyEvidence.from_json(evidence) is None
    assert same_recordings([good], [odd]) == []
    assert same_recordings([good], [{**good, "timbre_db": [math.inf] * 6}]) == []


@pytest.mark.skipif(not (LMMS / "beats").is_dir(), reason="lmms-common loops not installed")
def test_a_set_and_its_copy_with_one_blend_late_are_judged_on_the_same_keys() -> None:
    """lmms house set 22 of bench/judge_eval.py: alone, its fourth track reads F major in the clean set
    and G major in the copy whose third blend is 20 ms late, which moved harmonic and variety more
    than the late blend moved beatmatch."""
    spec = SetSpec(bpm=126.0, bars_per_track=32, first_track=22, seed=22)
    late = SetSpec(
        bpm=126.0,
        bars_per_track=32,
        first_track=22,
        seed=22,
        defects=Defects(phase_ms=20.0, only_transition=3),
    )
    clean_set, late_set = build_set(spec), build_set(late)
    verdict = judge_sets(
        (clean_set.samples, clean_set.sample_rate),
        (late_set.samples, late_set.sample_rate),
        Rules.for_genre("house"),
    )
    a, b = verdict.a.values, verdict.b.values
    assert (a["harmonic"], a["variety"]) == (b["harmonic"], b["variety"])
    assert verdict.features["a"]["camelot_distance"] == verdict.features["b"]["camelot_distance"]
    assert a["beatmatch"] > b["beatmatch"]
