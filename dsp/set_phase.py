"""What one track alone leaves ambiguous, settled over a whole set: the half beat and the bar line.

Each track's grid chooses between two phases half a beat apart from its own onsets (kick on the
beat, hats off it), and its downbeat among four beats. On sequenced material the half-beat choice
fails often (a bass line between the kicks fills the kick band), and on drum loops the bar line
is near guesswork; a DJ set is judged on how two neighbouring tracks line up, so one wrong choice
reads as a mistake at both of that track's blends. A set gives the evidence a single track lacks:
a DJ lines each new track up with the one playing, so a track whose two blends both sit off is far
likelier a wrong reading than two mistakes in a row.

A grid can also lock a quarter beat off, where a sixteenth-note bass riff fills the kick band (drum &
bass); the chain then moves it a quarter beat where its other bands peak (``quarter_votes``), or where
its groove lines up with its neighbours' (``groove_shifts``: two tracks that play the same groove, each
read on its own grid, show the groove turned by a sixteenth when one grid sits a quarter beat off, and
not turned at all when the DJ dropped the track a quarter beat late).

For every track this module picks its half (or quarter) beat, then its bar line, by the fewest blends left
off (dynamic programming over the chain of tracks) plus a cost for going against the track's own
evidence, so that one blend off (a real mistake: the tracks after it all agree with each other)
is never explained away by moving every track after it.

A track's own half-beat vote comes from the bands between the kick and the hats (snares and claps
on the beat, 190 Hz-4 kHz), not from the kick band that chose the grid: on lmms and hydrogen sets
that middle band points to the true beat for 56 of 61 grids on the beat and 11 of 14 grids half
a beat off, where the kick band, by construction, got all 14 wrong. Its bar-line evidence is the
downbeat score of ``beats.downbeat_scores``, except for the set's first and last track where the set's own
edges fix it (``edge_downbeats``: a set starts on its first bar line and, unless faded out, stops after
its last bar), so that the chain knows two bar lines for certain and a blend off the phrase between
them cannot be explained away by the tracks' own (often wrong) downbeat cues. At each blend, the two
tracks' grooves (``beats.bar_profile``: the kick band and all bands on each sixteenth of a bar) say
where their bar lines meet as played (``pattern_match``), whichever beat each track's own cues take for
the one.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from .beats import BeatGrid, beat_peaks, sample_max
from .onset import band_counts

F32 = npt.NDArray[np.float32]
F64 = npt.NDArray[np.float64]

#: cost of a blend whose grids sit half a beat apart (linear in the distance: a quarter beat costs half
#: of it). Twice a vote's worst: on sequenced material the middle band's vote was wrong for whole runs
#: of tracks (sonic-pi sets 0-23 at 126 BPM: two end tracks both voting 0.5-0.6 to move grids that were
#: right), and at 1 the chain then left a clean blend half a beat off rather than go against two votes.
#: At 2 (quarter costs scaled alike), the clean sonic-pi blends of sets 0-23 read half or a quarter beat
#: off fell from 11 to 6 of 80 (126 and 174 BPM); the price is that a mistake near half a beat, followed
#: by three tracks whose votes are weak (under 0.17 each), is read as their grids' error (one of the four
#: sonic-pi 150 ms mistakes at 174 BPM of sets 0-11, where the other three were already lost that way).
BLEND_OFF = 2.0
#: cost of a grid going against its own track's half-beat vote, plus VOTE_WEIGHT per unit of the vote's
#: log strength ratio (at most 1.5, under BLEND_OFF: an end track follows its one neighbour, a middle
#: one both). Two tracks at a set's end stay off their neighbour only when both votes hold (against
#: costs over 2 together); three or more, the tracks after a mistake in the middle, stay unless their
#: votes are near nothing. Chosen on lmms and hydrogen sets, BLEND_OFF on sonic-pi 0-23 (round 20).
AGAINST_VOTE = 0.5
VOTE_WEIGHT = 1.0
#: a vote's log strength ratio counts up to this much
_VOTE_CAP = 1.0
#: cost of a grid moved a quarter beat, less QUARTER_WEIGHT per unit of its ``quarter_votes`` (the log of
#: how much stronger the onsets are there than on the grid's beats or half a beat away), never under
#: QUARTER_FLOOR. A grid fitted to a bass line that fills the kick band (sixteenth-note riffs over drum &
#: bass) can lock a quarter beat off, where every other band peaks (sonic-pi 174 BPM sets 17 and 23:
#: onsets 1.4-1.6 times stronger a quarter beat later). A middle track whose two blends both sit a
#: quarter off (BLEND_OFF / 2 each) moves when its own onsets lean that way, an end track only when
#: they lean hard (a vote over 0.5), and a quarter-beat mistake at one blend is never explained away
#: (each of the tracks after it costs at least QUARTER_FLOOR, together more than the blend).
AGAINST_QUARTER = 2.0
QUARTER_WEIGHT = 2.0
QUARTER_FLOOR = 0.5
#: cost of a downbeat other than the track's best, plus BAR_WEIGHT per standard deviation its
#: score falls short of the best. Downbeats read from drum loops alone are near guesswork (the best
#: score was the true bar line for about half the tracks of the lmms and hydrogen sets), so the
#: neighbours weigh more: a middle track follows both of them, a first or last track follows its
#: one neighbour unless its own best leads by 2 standard deviations, and a blend off the bar in
#: the middle of a set stays (hiding it would move every track on one side of it, at least three
#: times 0.6). Chosen on lmms and hydrogen sets (sonic-pi held out).
AGAINST_BAR = 0.6
BAR_WEIGHT = 0.2
#: cost of a blend whose two bar lines do not meet
BAR_BREAK = 1.0
#: cost of a blend's bar lines meeting where the two tracks' grooves (``beats.bar_profile``) line up worse
#: than at their best meeting, per unit of correlation short of it beyond PATTERN_SLACK. Where two
#: neighbours play the same groove it says where their bars meet, and on sequenced tracks the downbeat
#: cues mislead as often as not (sonic-pi 126 BPM sets 1-13: a bass note on beat four outweighs the one;
#: 6 of 20 middle tracks read right). Loops of different grooves line up nearly as well at any beat
#: (lmms sets: the best meeting leads the next by 0.01-0.24, often at the wrong beat), so a lead under
#: the slack says nothing; sequenced neighbours lead by 0.2-0.6 at the right beat. The same prices a
#: blend's grids turned against the grooves by a quarter beat (``settle_beat_phases``): sonic-pi 174 BPM
#: grids on the bass riff read their neighbours' grooves a sixteenth turned, 0.60-0.76 against 0.07-0.18
#: unturned (sets 14 and 17 of 0-23).
PATTERN_WEIGHT = 2.0
PATTERN_SLACK = 0.15
#: where two neighbours' grooves are alike (their best meeting correlates SAME_GROOVE or more), where their bar
#: lines meet costs SAME_GROOVE_WEIGHT per unit short of the best beyond SAME_GROOVE_SLACK instead: the meeting
#: is then as plain as a downbeat gets. On sequenced sets at 126 BPM (sonic-pi and hydrogen sets 1-22 and
#: 1000-1011, clean and with a blend a beat off the bar) the best meeting was the true one at 398 of 400
#: blends, its lead over the next 0.21-0.36 (median; a tenth of them under 0.15-0.17). At PATTERN_WEIGHT
#: and PATTERN_SLACK, near-tied downbeat cues outweighed it: clean blends read 0.1-0.15 bars off, a blend a
#: beat off the bar was explained away in 4 of 40 sets and read at its own blend in 16. With these values:
#: none explained away, 32 read at their blend, clean sets' mean bar offset 0.040 -> 0.008 (hydrogen) and
#: 0.021 -> 0.014 (sonic-pi). lmms loops, whose best meeting is the true one at 18 of 40 blends, correlate 0.83
#: at most, so their bars read as before.
SAME_GROOVE = 0.85
SAME_GROOVE_WEIGHT = 10.0
SAME_GROOVE_SLACK = 0.1
#: ``bar_offsets`` weighs every reading of a set's bar lines by exp(-cost / BAR_TEMPERATURE): at 0 it is
#: the best chain alone, large values count every reading alike. Chosen on lmms sets only (judge_eval
#: pairs at the mildest severities, 0.3 and 0.5 tried; sonic-pi and hydrogen held out).
BAR_TEMPERATURE = 0.5


#: a blend says nothing about how two grids line up when their beats drift apart by more than this
#: much of a beat from its start to its end (tempi not matched: the offset at the centre is chance)
MAX_DRIFT_BEATS = 0.25


def _comparable(out: BeatGrid, inc: BeatGrid, blend: tuple[float, float] | None) -> bool:
    """Both grids have beats, and they drift apart by at most MAX_DRIFT_BEATS over the blend."""
    if blend is None or out.period <= 0 or inc.period <= 0:
        return False
    start, end = blend
    drift = abs(end - start) * abs(1.0 / out.period - 1.0 / inc.period)
    return drift <= MAX_DRIFT_BEATS


def middle_band(broad: F32, low: F32, high: F32) -> F64:
    """Onset strength of the bands between the kick and the hats (snares, claps), from the band
    means ``broad``, ``low`` and ``high`` (float64, elementwise: no summation order to vary)."""
    n, n_low, n_high = band_counts()
    total = broad.astype(np.float64) * n
    return (total - low.astype(np.float64) * n_low - high.astype(np.float64) * n_high) / (n - n_low - n_high)


def vote(middle: F64, grid: BeatGrid) -> float:
    """A track's own vote for moving its grid half a beat: log of the middle band's strength half a
    beat away over its strength on the grid's beats (positive: the beat is half a beat away)."""
    if grid.period <= 0 or grid.loop:
        return 0.0
    here = grid.beat_frames()
    if here.size < 8:
        return 0.0
    there = here + 0.5 * grid.period
    a, b = sample_max(middle, here), sample_max(middle, there)
    if a <= 0.0 or b <= 0.0:
        return 0.0
    return max(-_VOTE_CAP, min(_VOTE_CAP, math.log(b / a)))


def quarter_votes(broad: F64, grid: BeatGrid) -> tuple[float, float]:
    """A track's own votes for moving its grid a quarter beat later and earlier: log of the onset
    strength (all bands) there over the stronger of its beats and the points half a beat away."""
    if grid.period <= 0 or grid.loop:
        return (-_VOTE_CAP, -_VOTE_CAP)
    here = grid.beat_frames()
    if here.size < 8:
        return (-_VOTE_CAP, -_VOTE_CAP)
    strength = [sample_max(broad, here + q * 0.25 * grid.period) for q in range(4)]
    base = max(strength[0], strength[2])
    if base <= 0.0:
        return (-_VOTE_CAP, -_VOTE_CAP)
    later, earlier = (
        max(-_VOTE_CAP, min(_VOTE_CAP, math.log(s / base))) if s > 0.0 else -_VOTE_CAP
        for s in (strength[1], strength[3])
    )
    return later, earlier


def beat_offset(out: BeatGrid, inc: BeatGrid, at: float) -> float:
    """Signed frames from the outgoing track's beat nearest ``at`` to the incoming track's nearest beat."""
    if out.period <= 0 or inc.period <= 0:
        return 0.0
    b_out = out.phase + round((at - out.phase) / out.period) * out.period
    b_in = inc.phase + round((b_out - inc.phase) / inc.period) * inc.period
    return b_in - b_out


def _off_beat(offset: float, period: float) -> float:
    """0 when beats coincide, 1 when they sit half a beat apart (linear between)."""
    if period <= 0:
        return 0.0
    wrapped = (offset / period) % 1.0
    return 2.0 * min(wrapped, 1.0 - wrapped)


def _chain(own: Sequence[Sequence[float]], link: Sequence[Sequence[Sequence[float]]]) -> list[int]:
    """States of a chain with least total cost: ``own[k][s]`` of piece k in state s, ``link[i][s][t]``
    of pieces i and i + 1 in states s and t. Ties go to the lower state (plain floats, fixed order)."""
    best = list(own[0])
    back: list[list[int]] = []
    for k in range(1, len(own)):
        step, choice = [], []
        for t in range(len(own[k])):
            via = [best[s] + link[k - 1][s][t] for s in range(len(best))]
            s = min(range(len(via)), key=lambda j: (via[j], j))
            step.append(via[s] + own[k][t])
            choice.append(s)
        back.append(choice)
        best = step
    state = min(range(len(best)), key=lambda j: (best[j], j))
    out = [state]
    for choice in reversed(back):
        state = choice[state]
        out.append(state)
    return out[::-1]


def settle_beat_phases(
    grids: Sequence[BeatGrid],
    blends: Sequence[tuple[float, float] | None],
    votes: Sequence[float],
    quarters: Sequence[tuple[float, float]] | None = None,
    profiles: Sequence[F64 | None] | None = None,
) -> list[int]:
    """``grids`` of consecutive pieces of a set, ``blends[i]`` the frames (start, end) where pieces
    i and i + 1 overlap (None: no blend to compare at), ``votes`` each piece's ``vote`` and ``quarters``
    its ``quarter_votes`` (None: grids move by half beats only), ``profiles`` each grid's groove
    (``beats.bar_profile``: two neighbours that play the same groove show by how far it is turned
    between their grids which of them sits a quarter or half a beat off). Returns, per piece, how many
    quarter beats (0-3) its grid should move later (``beats.moved_beat``)."""
    n = len(grids)
    if n < 2 or len(blends) != n - 1 or len(votes) != n:
        return [0] * n
    inf = float("inf")
    linked = [False] * n
    for i, blend in enumerate(blends):
        if _comparable(grids[i], grids[i + 1], blend):
            linked[i] = linked[i + 1] = True
    own = []
    for k, (g, v, tied) in enumerate(zip(grids, votes, linked, strict=True)):
        against = AGAINST_VOTE + VOTE_WEIGHT * abs(v)
        if g.period <= 0 or g.loop or not tied:
            # the vote alone never moves a grid: it only weighs in where a blend says how grids line up
            own.append([0.0, inf, inf, inf])
            continue
        half = [against, 0.0] if v > 0.0 else [0.0, against]
        if quarters is None or len(quarters) != n:
            own.append([half[0], inf, half[1], inf])
            continue
        later, earlier = (max(QUARTER_FLOOR, AGAINST_QUARTER - QUARTER_WEIGHT * q) for q in quarters[k])
        own.append([half[0], later, half[1], earlier])
    link = []
    for i, blend in enumerate(blends):
        out, inc = grids[i], grids[i + 1]
        if blend is None or not _comparable(out, inc, blend):
            link.append([[0.0] * 4 for _ in range(4)])
            continue
        off = beat_offset(out, inc, 0.5 * (blend[0] + blend[1]))
        groove = _quarter_grooves(out, inc, blend, _grooves_at(profiles, i))
        link.append(
            [
                [
                    BLEND_OFF * _off_beat(off + 0.25 * (t * inc.period - s * out.period), out.period)
                    + groove[(t - s) % 4]
                    for t in range(4)
                ]
                for s in range(4)
            ]
        )
    return _chain(own, link)


def _grooves_at(profiles: Sequence[F64 | None] | None, i: int) -> tuple[F64, F64] | None:
    """The grooves of pieces ``i`` and ``i + 1``, when both were read on the same bins; else None."""
    if profiles is None:
        return None
    p_out, p_in = profiles[i], profiles[i + 1]
    if p_out is None or p_in is None or p_out.shape != p_in.shape:
        return None
    return p_out, p_in


def _quarter_grooves(
    out: BeatGrid, inc: BeatGrid, blend: tuple[float, float], pair: tuple[F64, F64] | None
) -> list[float]:
    """Per ``r`` (0..3), the cost of the incoming grid moved ``r`` quarter beats later than the outgoing
    one: how far the two grooves, turned by that much, fall short of their best (``_groove_costs``)."""
    if pair is None or pair[0].shape[2] % 4:
        return [0.0] * 4
    p_out, p_in = pair
    met = _meeting(out, inc, blend)
    if met is None:
        return [0.0] * 4
    steps = p_out.shape[2]
    shifts = groove_shifts(p_out, p_in, met[0])
    quarter = steps // 4
    return _groove_costs([max(shifts[d * steps + r * quarter] for d in range(4)) for r in range(4)])


def groove_shifts(out_profile: F64, in_profile: F64, j: int) -> list[float]:
    """Per ``q`` (0 .. bar's steps - 1), how alike two grooves (``beats.bar_profile``) are when the
    incoming one is read ``q`` steps (sixteenths) further on than the outgoing one, from where their grids
    meet (the outgoing beat ``j`` is the incoming beat 0): their correlation. Plain Python sums in a fixed
    order (consensus reads it)."""
    bands, beats, steps = out_profile.shape
    size = beats * steps
    out = out_profile.reshape(bands, size).tolist()
    inc = in_profile.reshape(bands, size).tolist()
    first = (j % beats) * steps
    return [
        math.fsum(
            out[b][(first + m) % size] * inc[b][(m + q) % size] for b in range(bands) for m in range(size)
        )
        / (bands * size)
        for q in range(size)
    ]


def pattern_match(out_profile: F64, in_profile: F64, j: int) -> list[float]:
    """Per ``d`` (0..3), how alike two grooves are when the incoming bar lines sit ``d`` beats after the
    outgoing ones, as played (``groove_shifts`` at whole beats)."""
    steps = out_profile.shape[2]
    shifts = groove_shifts(out_profile, in_profile, j)
    return [shifts[d * steps] for d in range(4)]


def _groove_costs(
    match: Sequence[float], weight: float = PATTERN_WEIGHT, slack: float = PATTERN_SLACK
) -> list[float]:
    """``weight`` per unit a reading's match falls short of the best by more than ``slack``."""
    best = max(match)
    return [weight * max(0.0, best - m - slack) for m in match]


def _meeting_costs(match: Sequence[float]) -> list[float]:
    """``_groove_costs`` of where two bar lines meet, weighed by how alike the grooves are (SAME_GROOVE)."""
    if max(match) >= SAME_GROOVE:
        return _groove_costs(match, SAME_GROOVE_WEIGHT, SAME_GROOVE_SLACK)
    return _groove_costs(match)


def _meeting(out: BeatGrid, inc: BeatGrid, blend: tuple[float, float] | None) -> tuple[int, float] | None:
    """Where a blend lines two grids up: the outgoing beat index of the incoming grid's first beat, and
    how far from that beat it sits (in beats); None without beats to compare."""
    f_out, f_in = out.beat_frames(), inc.beat_frames()
    if blend is None or out.period <= 0 or f_out.size == 0 or f_in.size == 0:
        return None
    # the outgoing grid ends and the incoming one starts at the blend: the incoming track's first beat
    # (its index 0) is the outgoing track's beat j; in line when both sit at the same place in the bar
    j_out = int(np.argmin(np.abs(f_out - 0.5 * (blend[0] + blend[1]))))
    beats = (float(f_in[0]) - float(f_out[j_out])) / out.period
    return j_out + int(round(beats)), beats - round(beats)


def _bar_costs(
    grids: Sequence[BeatGrid],
    blends: Sequence[tuple[float, float] | None],
    scores: Sequence[F64 | None],
    profiles: Sequence[F64 | None] | None = None,
) -> tuple[list[list[float]], list[list[list[float]]], list[tuple[int, float] | None]]:
    """The chain of ``settle_bars``: each piece's own cost per downbeat, each blend's link cost, and
    where each blend lines the two grids up: (the outgoing beat index of the incoming grid's first
    beat, how far from that beat it sits in beats), None where a blend has no beats to compare.
    ``profiles``: each piece's groove (``beats.bar_profile``), None where it has none."""
    own = []
    for s in scores:
        if s is None or s.size != 4:
            own.append([0.0, float("inf"), float("inf"), float("inf")])
            continue
        vals = [float(v) for v in s]
        top = max(range(4), key=lambda j: (vals[j], -j))
        own.append([0.0 if j == top else AGAINST_BAR + BAR_WEIGHT * (vals[top] - vals[j]) for j in range(4)])
    link: list[list[list[float]]] = []
    meet: list[tuple[int, float] | None] = []
    for i, blend in enumerate(blends[: max(0, len(grids) - 1)]):
        out, inc = grids[i], grids[i + 1]
        met = _meeting(out, inc, blend)
        meet.append(met)
        if met is None:
            link.append([[0.0] * 4 for _ in range(4)])
            continue
        j = met[0]
        if not _comparable(out, inc, blend):
            link.append([[0.0] * 4 for _ in range(4)])
            continue
        pair = _grooves_at(profiles, i)
        groove = _meeting_costs(pattern_match(*pair, j)) if pair is not None else [0.0] * 4
        link.append(
            [
                [(0.0 if (j - s + t) % 4 == 0 else BAR_BREAK) + groove[(j - s + t) % 4] for t in range(4)]
                for s in range(4)
            ]
        )
    return own, link, meet


def settle_bars(
    grids: Sequence[BeatGrid],
    blends: Sequence[tuple[float, float] | None],
    scores: Sequence[F64 | None],
    profiles: Sequence[F64 | None] | None = None,
) -> list[int]:
    """Each piece's downbeat (index 0..3 into its ``beat_frames``): ``scores[k]`` its four
    standardised downbeat scores (None: fixed at 0, as a loop's), chosen with its neighbours'
    bar lines at the blends (and how their grooves line up there, ``profiles``)."""
    n = len(grids)
    own, link, _ = _bar_costs(grids, blends, scores, profiles)
    if n < 2 or len(blends) != n - 1:
        return [min(range(4), key=lambda j: (o[j], j)) for o in own]
    return _chain(own, link)


#: the set's first sound (or the end of its last) reads as a bar line of its track only where the
#: track plays at this share of its median level or more over its first (last) bar: a set that
#: fades in or out, or a last hit that rings out, says nothing about where a bar starts
EDGE_LEVEL = 0.5
#: a beat counts as sounded at the end of a set where its onset strength is this share of the piece's
#: median beat or more (hats between the beats stay under it). The set's first onset counts from
#: EDGE_ONSET: the onset measure has only the frames from the start of the audio to compare with, so
#: a first beat at the very start reads weak (lmms sets 0.28-0.41 of the median; sonic-pi hip hop
#: 0.15-0.21, where at 0.2 one rendering took the first hat after it for the first onset instead)
EDGE_STRONG = 0.3
EDGE_ONSET = 0.1
#: how far from a beat of its grid (in beats) the set's first onset, or the bar line after its
#: last sounded beat, may sit from where the audio starts (stops), for it to count
EDGE_TOLERANCE_BEATS = 0.25


def edge_downbeats(grid: BeatGrid, env: F64, rms: F32, ratio: float, at_start: bool, edge: int) -> int | None:
    """The downbeat (index 0..3 into ``grid.beat_frames()``) that the edge of a set fixes, or None.

    A DJ set starts on its first track's first bar line, and a set that is not faded out stops at
    its last track's last one (tracks are whole bars; a DJ cues a track on its "one"): evidence of
    a bar line that drum loops alone lack (their own downbeat cue is wrong for about half the lmms
    pieces, by loop). The set's first onset is its first track's downbeat; the beat after the last
    track's last sounded beat is a bar line. ``env`` the onset strength (onset frames), ``rms`` the
    level at ``ratio`` level frames per onset frame, ``edge`` the onset frame where the set's audio
    starts (``at_start``) or stops (``analysis._active_range``). Only where the track plays at
    EDGE_LEVEL of its median level or more over that bar, and the first onset (the bar line after
    the last sounded beat) sits within EDGE_TOLERANCE_BEATS of a beat of the grid and within a beat
    and a level frame of where the audio starts (stops)."""
    f = grid.beat_frames()
    if grid.period <= 0 or grid.loop or f.size < 8:
        return None
    strength = beat_peaks(env, f)
    median = float(np.median(strength))
    if median <= 0.0:
        return None
    slack = grid.period + 1.0 / ratio
    if at_start:
        lo = max(0, int(math.floor(edge - 1.0 / ratio)))
        hi = min(env.size, int(math.ceil(edge + slack)))
        onsets = np.flatnonzero(env[lo:hi] >= EDGE_ONSET * median)
        if onsets.size == 0:
            return None
        line = float(lo + int(onsets[0]))
    else:
        # a beat within half a beat of the stop is the bar line itself (the stop's own flux)
        sounded = np.flatnonzero((strength >= EDGE_STRONG * median) & (f <= edge - 0.5 * grid.period))
        if sounded.size == 0:
            return None
        line = float(f[int(sounded[-1])]) + grid.period
        if abs(line - edge) > slack:
            return None
    k = int(round((line - float(f[0])) / grid.period))
    if abs(float(f[0]) + k * grid.period - line) > EDGE_TOLERANCE_BEATS * grid.period:
        return None
    levels = rms.astype(np.float64)
    span = levels[max(0, int(grid.start * ratio)) : max(0, int(math.ceil(grid.end * ratio)))]
    bar = (line, line + 4.0 * grid.period) if at_start else (line - 4.0 * grid.period, line)
    edge_bar = levels[max(0, int(math.floor(bar[0] * ratio))) : max(0, int(math.ceil(bar[1] * ratio)))]
    if span.size == 0 or edge_bar.size == 0:
        return None
    if float(np.mean(edge_bar)) < EDGE_LEVEL * float(np.median(span)):
        return None
    return k % 4


def on_one_beat(grids: Sequence[BeatGrid], blends: Sequence[tuple[float, float] | None]) -> bool:
    """Every blend lines its two grids up within a quarter beat (tempi matched): a chain of grids that
    all sit on the beat, or all off it, together."""
    if len(blends) != len(grids) - 1:
        return False
    for i, blend in enumerate(blends):
        out, inc = grids[i], grids[i + 1]
        if blend is None or not _comparable(out, inc, blend):
            return False
        if _off_beat(beat_offset(out, inc, 0.5 * (blend[0] + blend[1])), out.period) > 0.5:
            return False
    return True


def _bars_apart(j: int, frac: float, s: int, t: int) -> float:
    """Bars (0..0.5) from the outgoing bar line (downbeat ``s``) to the incoming one (downbeat ``t``)."""
    beats = (j - s + t + frac + 2.0) % 4.0 - 2.0
    return abs(beats) / 4.0


def bar_offsets(
    grids: Sequence[BeatGrid],
    blends: Sequence[tuple[float, float] | None],
    scores: Sequence[F64 | None],
    profiles: Sequence[F64 | None] | None = None,
) -> list[float | None]:
    """Per blend, how far apart the two tracks' bar lines sit, in bars (0..0.5), weighed over every
    reading of the set's bar lines rather than read off its single best one (``settle_bars``).

    The best chain flips between near-equal readings when a track's downbeat evidence moves a little
    (two renderings of the same clean set, one with a track 20 ms later, put a false break at different
    blends or none), so a verdict between two renderings turned on that flip. Here each reading counts
    by exp(-cost / BAR_TEMPERATURE) (forward-backward over the same chain), and a blend reads as far
    off as its readings are on average: weak evidence gives a small, stable value, and a break that
    the evidence agrees on reads whole. Plain Python floats in a fixed order. None: no beats to compare.
    """
    n = len(grids)
    if n < 2 or len(blends) != n - 1:
        return []
    own, link, meet = _bar_costs(grids, blends, scores, profiles)
    weight = [[math.exp(-c / BAR_TEMPERATURE) for c in o] for o in own]
    ties = [[[math.exp(-c / BAR_TEMPERATURE) for c in row] for row in m] for m in link]
    fwd = [_normal(weight[0])]
    for k in range(1, n):
        fwd.append(
            _normal([sum(fwd[-1][s] * ties[k - 1][s][t] for s in range(4)) * weight[k][t] for t in range(4)])
        )
    bwd = [[1.0] * 4 for _ in range(n)]
    for k in range(n - 2, -1, -1):
        nxt = [weight[k + 1][t] * bwd[k + 1][t] for t in range(4)]
        bwd[k] = _normal([sum(ties[k][s][t] * nxt[t] for t in range(4)) for s in range(4)])
    out: list[float | None] = []
    for i, m in enumerate(meet):
        if m is None:
            out.append(None)
            continue
        j, frac = m
        total = apart = 0.0
        for s in range(4):
            for t in range(4):
                p = fwd[i][s] * ties[i][s][t] * weight[i + 1][t] * bwd[i + 1][t]
                total += p
                apart += p * _bars_apart(j, frac, s, t)
        out.append(apart / total if total > 0.0 else None)
    return out


def _normal(v: list[float]) -> list[float]:
    total = sum(v)
    return [x / total for x in v] if total > 0.0 else [0.25] * 4
