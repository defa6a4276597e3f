"""Timestamped findings: every penalty the judge gives, with where in the set it happened and why.

A score says how good a set was; a finding says what to practise: "2:31-2:47: the beats are
90 ms apart during the blend", "3:05: +6.0 dB level jump into track 4". Findings are read off the
same analysis the model scores (tracks, transitions, beat offsets, the per-second level curve),
in plain Python in a fixed order, so every judge writes the same list for the same set.

Each criterion has a threshold under which a measure is not worth a sentence; the thresholds sit
above what the dsp measures on clean, beat-matched sets (a few ms of beat offset, a few tenths of
a dB of level) and at or below the mildest mistakes a DJ hears.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from djmesh.judge.features import (
    _KEY_CAMELOT,
    CUE_TOLERANCE_S,
    DIP_SPAN_S,
    RulesLike,
    _bar_error,
    _f,
    _levels_between,
    blend_base_db,
    camelot_distance,
    genre_misfit,
    level_spans,
    read_set,
    tempo_ratio,
    track_levels,
)

#: beats of the two tracks further apart than this during a blend (ms)
PHASE_MS = 20.0
#: tempo change across a blend (percent of the outgoing tempo)
TEMPO_JUMP_PCT = 0.5
#: under that, beats of two tracks whose tempos differ drift apart over the blend (ms from its start to its
#: end). Twice PHASE_MS: beats drifting from together to this far apart are PHASE_MS apart on average, as
#: far as a steady offset that gets a beatmatch finding
DRIFT_MS = 2 * PHASE_MS
#: incoming bar lines off the outgoing ones by this much of a bar (1/8: half a beat). Without a tracklist
#: the findings read the downbeats the analysis lists (the set's single best reading of its bar lines),
#: not a blend's ``bar_off`` the model scores: a threshold on ``bar_off`` chosen on lmms (0.15) found
#: more real 1-beat mistakes there but blamed more clean blends on the held-out sources
BAR_OFF = 0.125
#: a blend shorter than this many beats is a cut
CUT_BEATS = 4.0
#: level bump during a blend against the levels either side (dB)
BUMP_DB = 3.0
#: level dip during a blend: a linear crossfade of two tracks dips 3-5 dB by itself, which is a
#: choice of fader curve, not a mistake
DIP_DB = 6.0
#: level step between consecutive tracks (dB; tracks of one clean set differ by up to 2 dB)
JUMP_DB = 2.5
#: fall in level from one track to the next before the last one (dB)
DROP_DB = 3.0
#: Camelot-wheel steps between consecutive tracks that clash (1 = neighbour or relative: fine)
CLASH_STEPS = 2


@dataclass(frozen=True)
class Finding:
    """One penalty: ``at_s`` seconds into the set, the criterion it costs, and a sentence for the DJ."""

    at_s: float
    criterion: str
    text: str

    def as_json(self) -> dict[str, Any]:
        return {"at_s": self.at_s, "criterion": self.criterion, "text": self.text}


def clock(seconds: float) -> str:
    """m:ss (whole seconds)."""
    whole = max(0, int(math.floor(seconds + 0.5)))
    return f"{whole // 60}:{whole % 60:02d}"


def _span(start: float, end: float) -> str:
    a, b = clock(start), clock(end)
    return a if a == b else f"{a}-{b}"


def _key_label(key: str) -> str:
    cam = _KEY_CAMELOT.get(key, "")
    return f"{key} ({cam})" if cam else (key or "an unknown key")


def find(
    analysis: Mapping[str, Any], rules: RulesLike, cues: Sequence[float] | None = None
) -> tuple[Finding, ...]:
    """All findings for one analysed set (``djmesh.judge.analysis`` output), in time order."""
    reading = read_set(analysis)
    tracks, transitions, levels, downbeats = reading[:4]
    declared = sorted(cues or [])
    out: list[Finding] = []

    def add(at: float, criterion: str, text: str) -> None:
        out.append(Finding(round(max(0.0, at), 1), criterion, text))

    for i, (prev, nxt) in enumerate(itertools.pairwise(tracks)):
        if i >= len(transitions):
            break
        tr = transitions[i]
        start, end = _f(tr.get("start")), _f(tr.get("end"))
        when = _span(start, end)
        b_out, b_in = _f(prev.get("bpm")), _f(nxt.get("bpm"))
        offset = _f(tr.get("beat_offset_ms"))
        if abs(offset) >= PHASE_MS:
            side = "late" if offset > 0 else "early"
            add(
                start,
                "beatmatch",
                f"{when}: the beats are {abs(offset):.0f} ms apart during the blend "
                f"(the incoming track {side})",
            )
        ratio = tempo_ratio(b_out, b_in)
        if ratio > 0:
            jump = math.log(ratio) * 100.0
            beats = (end - start) * b_out / 60.0
            drift = beats * abs(60_000.0 / b_out - 60_000.0 / b_in) if beats >= CUT_BEATS else 0.0
            if abs(jump) >= TEMPO_JUMP_PCT:
                add(
                    start,
                    "tempo",
                    f"{when}: the tempo jumps from {b_out:.1f} to {b_in:.1f} BPM "
                    f"({jump:+.1f} %) across the blend",
                )
            elif drift >= DRIFT_MS:
                add(
                    start,
                    "tempo",
                    f"{when}: the beats drift {drift:.0f} ms apart during the blend: the incoming track "
                    f"runs at {b_in:.2f} BPM against {b_out:.2f} ({jump:+.2f} %)",
                )
            if beats < CUT_BEATS:
                add(start, "transitions", f"{clock(start)}: an abrupt cut ({beats:.0f} beats of blend)")
        bar = _bar_error(downbeats, prev, nxt, declared, i)
        if bar >= BAR_OFF and b_out > 0:
            add(
                start,
                "phrasing",
                f"{clock(start)}: the incoming track enters {4.0 * bar:.1f} beats off the bar line",
            )
        during = _levels_between(levels, start, end)
        base = blend_base_db(reading, prev, nxt, start, end)
        if during and base is not None:
            high, low = max(during) - base, base - min(level_spans(during, DIP_SPAN_S))
            if high >= BUMP_DB:
                add(start, "transitions", f"{when}: the level rises {high:.1f} dB during the blend")
            if low >= DIP_DB:
                add(start, "transitions", f"{when}: the level dips {low:.1f} dB during the blend")

    energy = track_levels(tracks, transitions, levels, reading.frames)
    keys = [str(t.get("key", "")) for t in tracks]
    for k in range(1, len(tracks)):
        # a boundary's findings sit where the next track comes in: the blend's start
        tr = transitions[k - 1] if k - 1 < len(transitions) else {}
        at = _f(tr.get("start"), _f(tracks[k].get("start")))
        when = _span(at, _f(tr.get("end"), at))
        a, b = energy[k - 1], energy[k]
        if a is not None and b is not None:
            step = b - a
            if abs(step) >= JUMP_DB:
                add(at, "gain", f"{when}: {step:+.1f} dB level jump into track {k + 1}")
            if -step >= DROP_DB and k < len(tracks) - 1:
                add(at, "energy", f"{when}: the energy drops {-step:.1f} dB into track {k + 1}")
        # the clash is heard at the blend: the keys the two tracks play there, else the tracks' keys
        key_a = str(tr.get("key_out") or keys[k - 1])
        key_b = str(tr.get("key_in") or keys[k])
        ca, cb = _KEY_CAMELOT.get(key_a, ""), _KEY_CAMELOT.get(key_b, "")
        if ca and cb and camelot_distance(ca, cb) >= CLASH_STEPS:
            add(
                at,
                "harmonic",
                f"{when}: the keys clash during the blend: {_key_label(key_a)} into {_key_label(key_b)}, "
                f"{camelot_distance(ca, cb)} steps apart on the Camelot wheel",
            )
        if keys[k] and keys[k] in keys[:k]:
            first = keys.index(keys[k]) + 1
            add(at, "variety", f"{clock(at)}: track {k + 1} is in {keys[k]} again, like track {first}")

    _clipping(analysis, add)
    _rules(tracks, transitions, rules, declared, add)
    misfit = genre_misfit(analysis, rules)
    if misfit:
        add(0.0, "rules", misfit)
    return tuple(sorted(out, key=lambda f: (f.at_s, f.criterion, f.text)))


def _clipping(analysis: Mapping[str, Any], add: Any) -> None:
    """One finding per run of seconds that clipped; the true peak over 0 dBTP if nothing clipped."""
    seconds: list[tuple[int, int]] = []
    for item in analysis.get("clipped_seconds") or []:
        if isinstance(item, Sequence) and len(item) == 2:
            seconds.append((int(_f(item[0])), int(_f(item[1]))))
    seconds.sort()
    runs: list[list[int]] = []  # [first second, last second, samples]
    for second, count in seconds:
        if runs and second <= runs[-1][1] + 2:
            runs[-1][1], runs[-1][2] = second, runs[-1][2] + count
        else:
            runs.append([second, second, count])
    for first, last, count in runs:
        add(float(first), "gain", f"{_span(first, last + 1)}: clipping ({count} samples at full scale)")
    over = _f(analysis.get("true_peak_dbtp"))
    if not runs and over > 0.0:
        add(0.0, "gain", f"the true peak reaches {over:+.1f} dBTP (over 0 dBTP)")


def _rules(
    tracks: Sequence[Mapping[str, Any]],
    transitions: Sequence[Mapping[str, Any]],
    rules: RulesLike,
    cues: Sequence[float],
    add: Any,
) -> None:
    if len(tracks) != rules.tracks:
        add(0.0, "rules", f"found {len(tracks)} tracks; the rules ask for {rules.tracks}")
    for k, t in enumerate(tracks):
        bpm = _f(t.get("bpm"))
        if not rules.bpm_min <= bpm <= rules.bpm_max:
            add(
                _f(t.get("start")),
                "rules",
                f"{clock(_f(t.get('start')))}: track {k + 1} at {bpm:.1f} BPM is outside "
                f"{rules.bpm_min:g}-{rules.bpm_max:g} BPM",
            )
    windows = [(_f(tracks[0].get("start")), _f(tracks[0].get("start")))] if tracks else []
    windows += [(_f(t.get("start")), _f(t.get("centre"))) for t in transitions]
    for cue in cues:
        if not any(lo - CUE_TOLERANCE_S <= cue <= hi + CUE_TOLERANCE_S / 2 for lo, hi in windows):
            add(cue, "rules", f"{clock(cue)}: a declared track starts here, but no track change is heard")
