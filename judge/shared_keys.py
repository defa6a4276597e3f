"""One recording, one key: a track both sets of a battle play is read once, from both plays.

A key is read from the chroma of the frames a track covers, and many tracks sit close to a tie between
two keys: the same loop read F major in one set and G major in the same set with one blend 20 ms late.
Read alone in each set, two DJs who play the same record could be judged on different keys for it, and
harmonic and variety would then differ for nothing either DJ did. So before scoring a pair of sets, the
judge finds the tracks both play (``same_recordings``) and reads each one's key from the two plays'
evidence pooled (``dsp.key.pooled_key``); every other track keeps the key its own set read.

Only the key is shared. Everything the DJ does with the record (where it comes in, its level, its beat
against the other track) is still read from that DJ's own play.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from djmesh.dsp.key import KeyEvidence, pooled_key

#: chroma shares of two plays of one recording correlate at least this much (Pearson), and their band
#: levels, less their means, differ by at most this much (root mean square, dB). Measured on lmms sets
#: 12-23 of ``bench/judge_eval.py`` and their copies with one mild mistake: plays of one track read
#: 0.938-1.0 and 0-0.35 dB. Of 102 pairs of tracks from different sets that correlate 0.9 or more, 26
#: read under 1 dB (0.984-1.0: the same loop in both sets), 5 read 1-3 dB and 71 more than 3 dB
SAME_CHROMA_R = 0.9
SAME_TIMBRE_DB = 1.0
#: tracks a set may have for pairing: a set has six, and pairing costs tracks_a x tracks_b comparisons
MAX_PAIRED_TRACKS = 64


#: band levels a track's ``timbre_db`` may list (the analysis writes 16): more is not a track's
MAX_BANDS = 64


@dataclass(frozen=True)
class _Play:
    """What one play of a track is told apart and pooled by, read once from its analysis."""

    evidence: KeyEvidence
    shape: tuple[float, ...]


def _play(track: Mapping[str, Any]) -> _Play | None:
    evidence = KeyEvidence.from_json(track.get("key_evidence"))
    value = track.get("timbre_db")
    if evidence is None or not isinstance(value, list) or not value or len(value) > MAX_BANDS:
        return None
    if not all(isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v) for v in value):
        return None
    return _Play(evidence, tuple(float(v) for v in value))


def _pearson(x: Sequence[float], y: Sequence[float]) -> float:
    mx, my = math.fsum(x) / len(x), math.fsum(y) / len(y)
    dx = [v - mx for v in x]
    dy = [v - my for v in y]
    den = math.sqrt(math.fsum(v * v for v in dx) * math.fsum(v * v for v in dy))
    return math.fsum(a * b for a, b in zip(dx, dy, strict=True)) / den if den > 0 else 0.0


def _shapes_apart(x: Sequence[float], y: Sequence[float]) -> float:
    """Root mean square difference of two band-level curves, each less its mean: a play louder or
    quieter than another (a DJ's gain) has the same shape."""
    mx, my = math.fsum(x) / len(x), math.fsum(y) / len(y)
    return math.sqrt(math.fsum((a - mx - b + my) ** 2 for a, b in zip(x, y, strict=True)) / len(x))


def _likeness(a: _Play | None, b: _Play | None) -> float | None:
    """How alike two plays sound (chroma correlation), or None when they are not one recording."""
    if a is None or b is None or len(a.shape) != len(b.shape):
        return None
    if _shapes_apart(a.shape, b.shape) > SAME_TIMBRE_DB:
        return None
    r = _pearson(a.evidence.chroma, b.evidence.chroma)
    return r if r >= SAME_CHROMA_R else None


def same_recordings(
    tracks_a: Sequence[Mapping[str, Any]], tracks_b: Sequence[Mapping[str, Any]]
) -> list[tuple[int, int]]:
    """Pairs (i, j): track i of one set and track j of the other are one recording. Each track pairs
    at most once, with the track it is most alike, and only if that one is most alike to it too."""
    return _pairs([_play(t) for t in tracks_a], [_play(t) for t in tracks_b])


def _pairs(plays_a: Sequence[_Play | None], plays_b: Sequence[_Play | None]) -> list[tuple[int, int]]:
    if len(plays_a) > MAX_PAIRED_TRACKS or len(plays_b) > MAX_PAIRED_TRACKS:
        return []
    like = {
        (i, j): r
        for i, pa in enumerate(plays_a)
        for j, pb in enumerate(plays_b)
        if (r := _likeness(pa, pb)) is not None
    }
    best_a: dict[int, tuple[float, int]] = {}
    best_b: dict[int, tuple[float, int]] = {}
    for (i, j), r in sorted(like.items()):  # ties go to the earlier track, on every node alike
        if r > best_a.get(i, (-2.0, -1))[0]:
            best_a[i] = (r, j)
        if r > best_b.get(j, (-2.0, -1))[0]:
            best_b[j] = (r, i)
    return [(i, j) for i, (_, j) in sorted(best_a.items()) if best_b[j][1] == i]


def read_together(a: Mapping[str, Any], b: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Both analyses, with every track the two sets share read as one key (copies; inputs untouched)."""
    tracks_a = [dict(t) for t in a.get("tracks") or [] if isinstance(t, Mapping)]
    tracks_b = [dict(t) for t in b.get("tracks") or [] if isinstance(t, Mapping)]
    plays_a, plays_b = [_play(t) for t in tracks_a], [_play(t) for t in tracks_b]
    for i, j in _pairs(plays_a, plays_b):
        pa, pb = plays_a[i], plays_b[j]
        key = pooled_key([pa.evidence, pb.evidence]) if pa is not None and pb is not None else None
        if key is not None:
            tracks_a[i]["key"] = tracks_b[j]["key"] = key.name
    return {**a, "tracks": tracks_a}, {**b, "tracks": tracks_b}
