"""Segmentation of a continuous DJ mix into tracks and the transitions between them.

Detection: per-second descriptors (timbre bands, chroma, onset density) are
standardised and compared across a sliding boundary; the distance between the
mean of the 12 s before and the 12 s after peaks where one track gives way to the
next. A peak only counts if each side has sound the other lacks (or, asked last,
clearly lacks once the level step between them is taken out): breakdowns and
drops inside one track remove or restore parts of it, a new track brings its own;
and a breakdown ends with its track coming back, while a mixed-out track does not
return. Extent: a crossfade is a sum, so around each peak every second's band
power spectrum is explained as ``a * outgoing + b * incoming`` (non-negative
least squares against the two tracks' own spectra). The incoming amplitude share
``g = sqrt(b) / (sqrt(a) + sqrt(b))`` rises across the fade; a line fitted where
it lies between 0.2 and 0.8 and extended to 0 and 1 gives the start and end, and
its 0.5 crossing the centre (a fade too long for the span between its neighbours is
measured again with the share rescaled between the levels it reads where each track
plays alone). A blend longer than the 24 s either side of the peak (16-32 bars) is
measured again from references outside its first extent; blends of 50 s or more are
also looked for with a 36 s novelty window (``_with_long_blends``; one whose middle is
no mix of the sound beside it is two blends with a track between), and between the
blends found, where a track's span starts and ends with different tracks
(``_with_missed``). Two neighbouring transitions whose middle is a mix of the tracks beside
them are the halves of one long blend (``_merged_halves``). Last, each long blend is re-centred from
its two tracks' cores, where each plays alone (``_balanced``); an EQ swap at the swap of its lows (when
that lies near the blend's centre), a crossfade at the median of the centres six groups of features
give.
"""

from __future__ import annotations

import functools
import itertools
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

if TYPE_CHECKING:
    from .features import Features

F64 = npt.NDArray[np.float64]

BLOCK_S = 1.0
#: the timbre bands at the start of each ``block_power`` row (the 12 pitch classes follow)
N_TIMBRE_BANDS = 16
WINDOW_S = 12
MIN_TRACK_S = 40.0
MIN_CORE_S = 8.0
SMOOTH_BLOCKS = 4
MIN_FADE_S = 2.0
#: 1 - cos^2 between the outgoing and incoming band spectra below which a fade cannot be measured
MIN_SEPARATION = 0.05
#: share of new sound on both sides of a boundary below which it is a breakdown, not a new track
MIN_NEW_CONTENT = 0.06
#: a boundary with less new sound than that is asked again, last, with the level step between its sides taken
#: out (``new_content_past_step``): a track brought in 3 dB too loud over one much like the last can contain it in
#: every band, and its blend read as a breakdown's end (lmms sets 0-23 missed 6 of 48 blends so, stepped 4.3-9.3
#: dB; with the step out they measure 0.25-0.29). It then counts with this much new sound on each side; inside a
#: 90 s crossfade the mix steps 3-5 dB under either track alone, and sonic-pi 32-bar blends measure 0.07-0.14 there
MIN_STEPPED_CONTENT = 0.2
#: a side of a boundary whose sound returns this closely (see ``comes_back``) is a breakdown's edge:
#: breakdown edges of lmms and hydrogen tracks measure 0-0.07, true boundaries of their sets 0.25-0.85.
#: Sequenced sets whose tracks share samples (sonic-pi: two closed hats, a few bass notes, cycled through
#: a set) measure 0.094-0.118 at true boundaries, so 0.12 lost a blend and read a track short in 1-2 of
#: every 24 clean sets; 0.085 keeps them, and the 90 breakdown tracks of ``bench/transition_eval.py
#: --breakdowns 30`` still read no transition at 0.06
MIN_RETURN_DIFFERENCE = 0.085
#: how far from a boundary a returning sound is looked for (a 32-bar breakdown at 85 BPM is 90 s)
MAX_BREAKDOWN_S = 90.0
_PEAK_Z = 0.5  # novelty peak must stand this many robust deviations above the median
#: a blend measured at least this long (s) is measured again with references outside it (``_widened``):
#: on lmms and hydrogen sets, 16- and 32-bar linear blends found within 4 s went from 58/120 to 87/120.
#: Not 24 s: an 8-bar fade (16 s at 119 BPM) of the judge's training sets can first measure over 24 s
LONG_FADE_S = 32.0
LONG_FADE_STEPS = 3
#: novelty window (s) for blends longer than the 12 s window sees: about half a 32-bar blend at 100 BPM
LONG_WINDOW_S = 36
#: a blend measured at that scale counts only this long or longer (s): 8-bar blends are 16-23 s, so
#: short blends are left to the 12 s scale
LONG_BLEND_S = 50.0
#: ... and only where the 12 s novelty inside it stays below this share of the 36 s one's peak
#: (lmms and hydrogen 32-bar blends: 0.41-0.84; two 8-bar blends and the track between them: 0.87)
LONG_FINE_RATIO = 0.8
#: ... and only where at most this share of the sound at its centre (the middle ``LONG_MIDDLE_S``) is
#: missing from every mix of the ``HALF_REF_S`` beside it (``_unmixed_middle``). The 16-32-bar blends of
#: lmms, sonic-pi and hydrogen sets 0-1 of every style measure 0.03-0.17 (hydrogen EQ swaps the most); two
#: 8-bar hydrogen blends at 85 BPM with a 45 s track between them, read as one 56-94 s blend, 0.28 and 0.33
LONG_MIDDLE_RESIDUAL = 0.25
LONG_MIDDLE_S = 10.0
#: a track's core (``_cores``) shorter than this (s) falls back to the middle third between its blends
CORE_MIN_S = 8.0
#: how far (s) the first and last track's core reaches from its one blend
CORE_REACH_S = 60.0
#: a core whose halves differ more than this (``_difference``) may hold a missed blend: no re-centring
#: (on lmms and hydrogen, 0.2-0.4 and no check at all find the same blends)
MAX_CORE_DIFFERENCE = 0.3
#: the low bands (``texture.N_TIMBRE`` log bands from 40 Hz: the first 4 end at 163 Hz) an EQ swap swaps
LOW_BANDS = 4
#: a blend whose low-band share passes 0.2-0.8 in less than this fraction of the time the share of all
#: bands takes is an EQ swap (lmms and hydrogen 16-32-bar blends: linear 0.18-1.36, mostly over 0.68;
#: EQ swaps 0.06-1.0, mostly under 0.62; 0.6 and 0.7 find the same)
SWAP_RATIO = 0.63
#: ... but only where its lows swap within this share of its measured length of the centre the share of
#: all bands gives (lmms and hydrogen 32-bar EQ swaps: at most 0.11; hydrogen linear crossfades whose
#: lows change sharply and read as swaps: 0.30-0.47, centred 7-24 s early)
SWAP_SPREAD = 0.2
#: feature columns whose shares each give a re-centred crossfade's centre (``_balance_point``: the median):
#: all, the bands over the lows (163 Hz-11 kHz), the lows, 163 Hz-1.34 kHz, 1.34-11 kHz, the pitch classes
#: (``block_power``: 16 timbre bands, then 12 pitch classes). Over a 90 s fade one group's share can sit
#: 0.05-0.1 off the fader all the way through (hydrogen kits; a cross term in the fit did not explain it),
#: which moves its 0.5 crossing 5-9 s; the groups are off by different amounts, in either direction. A 45-50 s
#: blend is moved as much: one hydrogen kit pair's 32-bar crossfades at 126 BPM measure 46 s and the share of
#: all columns put all 8 of them +5..+6 s late (each then also a false transition), the median +0.7 s.
CENTRE_GROUPS = (slice(0, 28), slice(4, 16), slice(0, 4), slice(4, 10), slice(10, 16), slice(16, 28))
#: stretch (s) at each end of a track's span compared when looking for a missed blend (``_with_missed``)
MISSED_REF_S = 20.0
#: ... and the share of sound each must lack of the other (``new_content``; on lmms and hydrogen sets 0-1,
#: 0.1-0.2 alike and 0.3 misses 4 more; on sets 0-7 of 1-32-bar blends 0.2 missed 15 blends 0.12 finds,
#: 32-bar crossfades at 85 BPM whose tracks' ends measure 0.14-0.19; 0.08-0.12 alike)
MIN_MISSED_CONTENT = 0.12
#: at most this many missed blends are added to one mix (the bench's 15-min sets of 32-bar blends miss 0-2)
MISSED_STEPS = 4
#: novelty peaks closer than MIN_TRACK_S are also tried this far apart: a blend's novelty peak sits up to
#: ~6 s from its centre (12 s windows on a fade), so blends of tracks 45 s apart (one-minute tracks, 8-bar
#: fades) peaked 36-39 s apart and the weaker was dropped (4 of 24 lmms sets found 5 tracks of 6)
CLOSE_PEAK_S = 30.0
#: two neighbouring transitions are the halves of one long blend (``_merged_halves``) when less than this
#: share of the sound between their centres is missing from a mix of the tracks beside them (lmms and
#: hydrogen 32-bar crossfades read as two: 0.04-0.07; two blends with a track between: 0.25 and more) ...
MERGE_RESIDUAL = 0.1
#: ... and that mix is not mostly one of the two (a transition inside a track has a track beside it)
MERGE_SHARE = (0.25, 0.75)
#: stretch (s) beside the pair taken as its two tracks
HALF_REF_S = 20.0
#: blends measured at least this long (s) are re-centred between their tracks' cores (``_balanced``): a
#: 16-32-bar blend can first measure 24-31 s, its references inside it (it was ``LONG_FADE_S``, 32 s;
#: on lmms and hydrogen sets 0-7 of 1-32-bar blends 24 s found 12 more of 1680 with 12 fewer false ones,
#: 20 s and less cost echo-outs, 28 s found 3 fewer)
BALANCE_MIN_S = 24.0
#: peak pickings at most, each without the peaks the last could not measure (``_measured_peaks``)
MEASURE_STEPS = 3
#: seconds of a reference track alone, at least, that give its share's level (``_between_plateaus``)
MIN_PLATEAU = 4


@dataclass(frozen=True)
class Transition:
    start: float
    end: float
    centre: float


@dataclass
class Segmentation:
    """``tracks`` are spans (s) meeting at transition centres; ``cores`` the parts outside transitions."""

    tracks: list[tuple[float, float]]
    transitions: list[Transition] = field(default_factory=list)
    cores: list[tuple[float, float]] = field(default_factory=list)


def block_features(feats: Features, start_s: float, end_s: float) -> F64:
    """(n_blocks, d) standardised descriptors, one row per second of [start_s, end_s)."""
    tr = feats.texture_rate
    per = int(round(BLOCK_S * tr))
    a = int(start_s * tr)
    n = max(0, (min(int(end_s * tr), feats.timbre.shape[0]) - a) // per)
    if n == 0:
        return np.zeros((0, 0))
    timbre = feats.timbre[a : a + n * per].astype(np.float64).reshape(n, per, -1).mean(axis=1)
    chroma = feats.chroma[a : a + n * per].astype(np.float64)
    chroma = chroma / np.maximum(chroma.sum(axis=1, keepdims=True), 1e-12)
    chroma = chroma.reshape(n, per, 12).mean(axis=1)
    opr = int(round(BLOCK_S * feats.onset_rate))
    oa = int(start_s * feats.onset_rate)
    low = _block_mean(feats.low, oa, n, opr)
    broad = _block_mean(feats.broad, oa, n, opr)
    high = _block_mean(feats.high, oa, n, opr)
    x = np.concatenate([timbre, 2.0 * chroma, low[:, None], broad[:, None], high[:, None]], axis=1)
    med = np.median(x, axis=0)
    scale = np.median(np.abs(x - med), axis=0) * 1.4826 + 1e-6
    return np.asarray((x - med) / scale, dtype=np.float64)


def _block_mean(env: npt.NDArray[np.float32], a: int, n: int, per: int) -> F64:
    seg = env[a : a + n * per].astype(np.float64)
    if seg.size < n * per:
        seg = np.concatenate([seg, np.zeros(n * per - seg.size)])
    return np.asarray(seg.reshape(n, per).mean(axis=1), dtype=np.float64)


def novelty(x: F64, w: int) -> F64:
    """Distance between the means of the ``w`` blocks before and after each block boundary."""
    n = x.shape[0]
    out = np.zeros(n)
    if n < 2 * w + 1:
        return out
    c = _running_sums(x)
    t = np.arange(w, n - w + 1)
    left = (c[t] - c[t - w]) / w
    right = (c[t + w] - c[t]) / w
    d = np.sqrt(np.sum((right - left) ** 2, axis=1)) / math.sqrt(x.shape[1])
    out[w : n - w + 1] = d
    return out


def _pick_peaks(nov: F64, min_gap: int, keep: Callable[[int], bool]) -> list[int]:
    """Novelty maxima above a robust floor that ``keep`` accepts, highest first, ``min_gap`` apart."""
    active = nov[nov > 0]
    if active.size == 0:
        return []
    med = float(np.median(active))
    mad = float(np.median(np.abs(active - med))) * 1.4826 + 1e-9
    floor = max(med + _PEAK_Z * mad, 0.35)
    inner = nov[1:-1]
    local = np.flatnonzero((inner >= nov[:-2]) & (inner >= nov[2:]) & (inner >= floor)) + 1
    chosen: list[int] = []
    for i in local[np.argsort(-nov[local], kind="stable")]:
        if all(abs(int(i) - j) >= min_gap for j in chosen) and keep(int(i)):
            chosen.append(int(i))
    return sorted(chosen)


def new_content(power: F64, b: int, w: int) -> float:
    """How much each side of ``b`` has that the other lacks (the smaller share, 0..1).

    A new track brings sound the old one did not have and drops some of its own; a
    breakdown or a drop only removes or restores parts of the same track (one side
    contains the other), so its score is near 0.
    """
    sides = _side_means(power, b, w)
    return 0.0 if sides is None else _new_content_of(*sides)


def new_content_past_step(power: F64, b: int, w: int) -> float:
    """``new_content`` with the level step across ``b`` (the median timbre band's power ratio) taken out.

    A track brought in too loud raises most of its bands. A breakdown's end raises the bands of the
    parts it restores and leaves the rest; comes_back, not this, tells it from a new track.
    """
    sides = _side_means(power, b, w)
    if sides is None:
        return 0.0
    lm, rm = sides
    bands = slice(0, N_TIMBRE_BANDS)
    step = float(np.median(rm[bands] / np.maximum(lm[bands], 1e-20)))
    return _new_content_of(lm, rm / step) if step > 0.0 else 0.0


def _side_means(power: F64, b: int, w: int) -> tuple[F64, F64] | None:
    """Mean rows of the ``2w`` blocks ending ``w`` before ``b`` and of those starting ``w`` after it (a
    blend's own blocks left out), or None where either side has none."""
    left = power[max(0, b - 3 * w) : max(1, b - w)]
    right = power[min(power.shape[0] - 1, b + w) : b + 3 * w]
    if left.shape[0] == 0 or right.shape[0] == 0:
        return None
    return left.mean(axis=0), right.mean(axis=0)


def _new_content_of(lm: F64, rm: F64) -> float:
    """The smaller share of sound either mean spectrum has that the other lacks."""
    scale = 1.0 / np.maximum(0.5 * (lm + rm), 1e-20)
    lv, rv = lm * scale, rm * scale
    only_right = float(np.sum(np.maximum(0.0, rv - lv)) / max(float(np.sum(rv)), 1e-20))
    only_left = float(np.sum(np.maximum(0.0, lv - rv)) / max(float(np.sum(lv)), 1e-20))
    return min(only_right, only_left)


def _difference(a: F64, b: F64) -> float:
    """How far two mean spectra are from the same sound: the larger share either has that the other lacks."""
    scale = 1.0 / np.maximum(0.5 * (a + b), 1e-20)
    av, bv = a * scale, b * scale
    only_b = float(np.sum(np.maximum(0.0, bv - av)) / max(float(np.sum(bv)), 1e-20))
    only_a = float(np.sum(np.maximum(0.0, av - bv)) / max(float(np.sum(av)), 1e-20))
    return max(only_a, only_b)


def comes_back(power: F64, b: int, w: int, reach: int, sums: F64) -> float:
    """How closely the sound on one side of ``b`` returns on the other side within ``reach`` blocks.

    The smaller of: the sound before ``b`` against any later ``2w``-block stretch starting
    ``w`` to ``reach`` blocks after ``b``, and the sound after ``b`` against any earlier one. A
    breakdown ends with its track coming back (and starts after it played); in a mix the
    outgoing track does not return. 0 is an exact return. ``sums``: ``_running_sums(power)``.
    """
    n = power.shape[0]
    sides = _side_means(power, b, w)
    if sides is None:
        return 1.0
    span = 2 * w
    best = 1.0
    ref_before, ref_after = sides
    for s in range(b + 3 * w, min(n - span, b + reach) + 1):  # later stretches, past the "after" side
        best = min(best, _difference(ref_before, (sums[s + span] - sums[s]) / span))
    for s in range(max(0, b - reach - span), b - 3 * w - span + 1):  # earlier ones, before "before"
        best = min(best, _difference(ref_after, (sums[s + span] - sums[s]) / span))
    return best


def block_power(feats: Features, start_s: float, end_s: float) -> F64:
    """(n_blocks, N_TIMBRE + 12) mean band and pitch-class power per second (linear, so mixtures add)."""
    tr = feats.texture_rate
    per = int(round(BLOCK_S * tr))
    a = int(start_s * tr)
    n = max(0, (min(int(end_s * tr), feats.timbre.shape[0]) - a) // per)
    bands = 10.0 ** (2.0 * feats.timbre[a : a + n * per].astype(np.float64))
    pitch = np.square(feats.chroma[a : a + n * per].astype(np.float64))
    p = np.concatenate([bands, pitch], axis=1)
    return np.asarray(p.reshape(n, per, -1).mean(axis=1), dtype=np.float64)


def _running_sums(x: F64) -> F64:
    """Sums of the rows of ``x`` so far, a zero row first: a stretch's sum is two rows' difference."""
    return np.concatenate([np.zeros((1, x.shape[1])), np.cumsum(x, axis=0)])


def _smooth(x: F64, n: int) -> F64:
    """Centred running mean over ``n`` blocks (edges use what exists): averages out chord and bar cycles."""
    c = _running_sums(x)
    i = np.arange(x.shape[0])
    lo = np.clip(i - n // 2, 0, x.shape[0])
    hi = np.clip(i - n // 2 + n, 0, x.shape[0])
    return np.asarray((c[hi] - c[lo]) / (hi - lo)[:, None], dtype=np.float64)


def _mix_amounts(power: F64, left: F64, right: F64) -> tuple[F64, F64, F64, F64, F64] | None:
    """Per block, ``a`` and ``b`` of the non-negative least-squares fit ``a * left + b * right``.

    Returns (a, b, left, right, power) scaled band by band (every band counts, not just the bass),
    or None when the two sides sound alike: no mixture to measure.
    """
    scale = 1.0 / np.maximum(0.5 * (left + right), 1e-20)
    lv, rv, xv = left * scale, right * scale, power * scale
    ll, rr, lr = float(np.sum(lv * lv)), float(np.sum(rv * rv)), float(np.sum(lv * rv))
    xl, xr = np.sum(xv * lv, axis=1), np.sum(xv * rv, axis=1)
    det = ll * rr - lr * lr
    if det <= MIN_SEPARATION * ll * rr:
        return None
    a = (xl * rr - xr * lr) / det
    b = (xr * ll - xl * lr) / det
    a_only = np.maximum(xl / ll, 0.0)
    b_only = np.maximum(xr / rr, 0.0)
    a, b = np.where(b < 0, a_only, np.where(a < 0, 0.0, a)), np.where(a < 0, b_only, np.where(b < 0, 0.0, b))
    return a, b, lv, rv, xv


def _mix_share(power: F64, left: F64, right: F64) -> F64:
    """Incoming amplitude share g per block from a 2-source non-negative least-squares fit."""
    fit = _mix_amounts(power, left, right)
    if fit is None:
        return np.full(power.shape[0], np.nan)
    a, b = fit[0], fit[1]
    sa, sb = np.sqrt(np.maximum(a, 0.0)), np.sqrt(np.maximum(b, 0.0))
    tot = sa + sb
    return np.asarray(np.where(tot > 0, sb / np.maximum(tot, 1e-30), 0.5), dtype=np.float64)


def _extent(
    power: F64, smooth: F64, b: int, lo: int, hi: int, w: int, *, plateaus: bool = False
) -> tuple[float, float, float]:
    """Transition (start, end, centre) in blocks around boundary ``b``, within [lo, hi).

    ``smooth``: ``_smooth(power, SMOOTH_BLOCKS)``, made once per mix however many blends are measured."""
    left = power[max(lo, b - 3 * w) : max(lo + 1, b - w)]
    right = power[min(hi - 1, b + w) : min(hi, b + 3 * w)]
    fallback = (b - 0.5, b + 0.5, float(b))
    if left.shape[0] == 0 or right.shape[0] == 0:
        return fallback
    a0, a1 = max(lo, b - 2 * w), min(hi, b + 2 * w)
    g = _mix_share(smooth[a0:a1], left.mean(axis=0), right.mean(axis=0))
    if not np.all(np.isfinite(g)):
        return fallback
    # 3-second running median: one odd second (a fill, a drop) must not bend the line
    padded = np.concatenate([g[:1], g, g[-1:]])
    g = np.median(np.lib.stride_tricks.sliding_window_view(padded, 3), axis=1)
    if plateaus:
        g = _between_plateaus(g, b - w - a0, b + w - a0)
    t = np.arange(g.size, dtype=np.float64) + 0.5  # block i covers [i, i+1) s
    # the fade is the run of blocks around b whose share lies strictly between 0.2 and 0.8
    k = min(max(b - a0, 0), g.size - 1)
    mid = (g > 0.2) & (g < 0.8)
    if not mid[k]:
        near = np.flatnonzero(mid)
        if near.size == 0:
            return fallback
        k = int(near[np.argmin(np.abs(near - k))])
    s = k
    while s > 0 and mid[s - 1]:
        s -= 1
    e = k
    while e < g.size - 1 and mid[e + 1]:
        e += 1
    if e - s + 1 < 2:
        return a0 + t[k] - 0.5, a0 + t[k] + 0.5, a0 + t[k]
    sel = np.arange(s, e + 1)
    slope, icpt = _line(t[sel], g[sel])
    for _ in range(3):  # refit on the blocks the line itself places inside the fade and near it
        if slope <= 0:
            return fallback
        pred = slope * t + icpt
        inside = np.flatnonzero((pred > 0.1) & (pred < 0.9) & (np.abs(g - pred) < 0.2))
        if inside.size < 2 or np.array_equal(inside, sel):
            break
        sel = inside
        slope, icpt = _line(t[sel], g[sel])
    if slope <= 0:
        return fallback
    start, end, centre = (0.0 - icpt) / slope, (1.0 - icpt) / slope, (0.5 - icpt) / slope
    return a0 + float(start), a0 + float(end), a0 + float(centre)


def _between_plateaus(g: F64, left_end: int, right_start: int) -> F64:
    """``g`` rescaled so that its level where each reference track plays alone reads 0 and 1.

    A second of one track alone reads as a little of the other when the two share sounds: the fit
    gives the other a small ``b``, and its square root a share of 0.1-0.25 (hydrogen kits at 85 BPM,
    whose seconds alternate between half bars). Left so, those seconds lie inside the 0.2-0.8 run
    and the line through them measured an 8-bar blend 55-68 s long. Each side's level is the
    median share over its reference seconds in the window; a side with fewer than ``MIN_PLATEAU``
    keeps 0 or 1.
    """
    lo = g[: max(0, left_end)]
    hi = g[max(0, right_start) :]
    g_lo = float(np.median(lo)) if lo.size >= MIN_PLATEAU else 0.0
    g_hi = float(np.median(hi)) if hi.size >= MIN_PLATEAU else 1.0
    if not (0.0 <= g_lo < 0.5 < g_hi <= 1.0):
        return g
    return np.asarray((g - g_lo) / (g_hi - g_lo), dtype=np.float64)


def _line(x: F64, y: F64) -> tuple[float, float]:
    """Least-squares slope and intercept (explicit sums: no BLAS, so no thread dependence)."""
    xm, ym = float(x.mean()), float(y.mean())
    den = float(np.sum((x - xm) ** 2))
    slope = 0.0 if den == 0 else float(np.sum((x - xm) * (y - ym)) / den)
    return slope, ym - slope * xm


def segment_features(feats: Features, start: int, end: int) -> Segmentation:
    """Tracks and transitions within onset frames [start, end)."""
    fr = feats.onset_rate
    t0, t1 = start / fr, end / fr
    single = Segmentation([(t0, t1)], [], [(t0, t1)])
    if t1 - t0 < 2 * MIN_TRACK_S:
        return single
    x = block_features(feats, t0, t1)
    if x.shape[0] < 2 * WINDOW_S + 1:
        return single
    nov = novelty(x, WINDOW_S)
    power = block_power(feats, t0, t1)
    edge = int(MIN_TRACK_S / 2 / BLOCK_S)  # a track before the first boundary and after the last

    sums = _running_sums(power)
    smooth = _smooth(power, SMOOTH_BLOCKS)

    # cached: both peak pickings, the missed and the stepped blends ask about the same blocks
    @functools.cache
    def gone(b: int) -> bool:  # the sound either side of b does not come back: no breakdown's edge
        return comes_back(power, b, WINDOW_S, int(MAX_BREAKDOWN_S / BLOCK_S), sums) >= MIN_RETURN_DIFFERENCE

    @functools.cache
    def keep(b: int) -> bool:
        return (
            edge <= b <= x.shape[0] - edge and new_content(power, b, WINDOW_S) >= MIN_NEW_CONTENT and gone(b)
        )

    def keep_stepped(b: int) -> bool:
        return (
            edge <= b <= x.shape[0] - edge
            and not keep(b)
            and new_content_past_step(power, b, WINDOW_S) >= MIN_STEPPED_CONTENT
            and gone(b)
        )

    @functools.cache  # the 40 s and the 30 s pickings are often the same peaks: measured once
    def measured(peaks: tuple[int, ...]) -> tuple[tuple[Transition, ...], tuple[int, ...]]:
        return _measured(power, smooth, list(peaks), x.shape[0], t0)

    peaks, transitions = _measured_peaks(nov, int(MIN_TRACK_S / BLOCK_S), keep, measured)
    # closer peaks count only when they measure as more blends, none overlapping the next and all
    # CLOSE_PEAK_S apart: a fade's own start and end also peak, and then their blends overlap or one is
    # dropped. Not MIN_TRACK_S: these centres are not yet re-centred (``_balanced``), and tracks 45 s
    # apart (8-bar blends at 85 BPM) measured 39.7-39.8 s and lost a blend
    close_peaks, close = _measured_peaks(nov, int(CLOSE_PEAK_S / BLOCK_S), keep, measured)
    if (
        close_peaks != peaks
        and len(close) > len(transitions)
        and all(
            b.start >= a.end and b.centre - a.centre >= CLOSE_PEAK_S for a, b in itertools.pairwise(close)
        )
    ):
        transitions = close
    transitions = _with_long_blends(power, smooth, x, nov, transitions, t0)
    transitions = _with_missed(power, smooth, transitions, t0, keep)
    transitions = _with_stepped(power, smooth, nov, transitions, t0, keep_stepped)
    if not transitions:
        return single
    transitions = _merged_halves(power, transitions, t0)
    transitions = _balanced(power, smooth, transitions, t0)
    edges = [t0, *(tr.centre for tr in transitions), t1]
    tracks = list(itertools.pairwise(edges))
    core_edges = [t0, *(v for tr in transitions for v in (tr.start, tr.end)), t1]
    cores: list[tuple[float, float]] = []
    for (c0, c1), span in zip(zip(core_edges[::2], core_edges[1::2], strict=True), tracks, strict=True):
        cores.append((c0, c1) if c1 - c0 >= MIN_CORE_S else span)
    return Segmentation(tracks, transitions, cores)


def _spans(peaks: list[int], n: int) -> list[tuple[int, int, int]]:
    """(peak, lo, hi) for each boundary peak: its blend is looked for halfway to the peaks beside it."""
    bounds = [0, *peaks, n]
    return [
        (b, (bounds[i] + b) // 2 if i > 0 else 0, (b + bounds[i + 2]) // 2 if i + 2 < len(bounds) - 1 else n)
        for i, b in enumerate(peaks)
    ]


def _measured_peaks(
    nov: F64,
    gap: int,
    keep: Callable[[int], bool],
    measured: Callable[[tuple[int, ...]], tuple[tuple[Transition, ...], tuple[int, ...]]],
) -> tuple[list[int], list[Transition]]:
    """Novelty peaks ``gap`` apart and their blends; a peak with no blend to measure is picked again without.

    A track alone can peak as high as a blend (a loop whose 12 s windows read differently by where its
    bars fall), and that peak then kept the true one beside it, less than ``gap`` away, from being picked.
    """
    unmeasured: set[int] = set()
    for _ in range(MEASURE_STEPS):
        peaks = _pick_peaks(nov, gap, lambda b: b not in unmeasured and keep(b))
        found, lost = measured(tuple(peaks))
        if not lost:
            break
        unmeasured.update(lost)
    return peaks, list(found)


def _measured(
    power: F64, smooth: F64, peaks: list[int], n: int, t0: float
) -> tuple[tuple[Transition, ...], tuple[int, ...]]:
    """The blend around each boundary peak, and the peaks that have none (a "fade" longer than the
    tracks either side is dropped)."""
    out: list[Transition] = []
    lost: list[int] = []
    for b, lo, hi in _spans(peaks, n):
        s, e, c = _extent(power, smooth, b, lo, hi, WINDOW_S)
        if s < lo or e > hi:  # a fade too long for its span: measured again between the sides' own levels
            s, e, c = _extent(power, smooth, b, lo, hi, WINDOW_S, plateaus=True)
        # no mixture of two tracks; or no fade measured at all (``_extent``'s 1-block fallback: the sides sound
        # alike or never mix): on lmms and hydrogen, all 6 such of 1680 blends' reports were false, cuts
        # measure a fade of a few blocks (the 4-block smoothing)
        if s < lo or e > hi or e - s <= 1.0:
            lost.append(b)
            continue
        out.append(_transition(_widened(power, smooth, (s, e, c), lo, hi), t0))
    return tuple(out), tuple(lost)  # kept by ``segment_features``' cache: not to be changed in place


def _with_long_blends(
    power: F64, smooth: F64, x: F64, fine: F64, transitions: list[Transition], t0: float
) -> list[Transition]:
    """``transitions`` with the blends a ``LONG_WINDOW_S`` novelty finds in place of those inside them.

    A 60-90 s blend (32 bars at 85-126 BPM) changes the sound so slowly that the 12 s novelty
    (``fine``) often has no peak of its own, or two at its ends whose fades reach past each other;
    at a 36 s scale it peaks near its middle, and references 36-108 s either side lie outside it.
    """
    w = int(LONG_WINDOW_S / BLOCK_S)
    n = x.shape[0]
    edge = int(MIN_TRACK_S / 2 / BLOCK_S)  # each track plays alone for a while before and after
    nov = novelty(x, w)
    peaks = _pick_peaks(nov, int(MIN_TRACK_S / BLOCK_S), lambda b: True)
    found: list[tuple[int, Transition]] = []
    for b, lo, hi in _spans(peaks, n):
        s, e, c = _extent(power, smooth, b, lo, hi, w)
        if s < max(lo, edge) or e > min(hi, n - edge) or e - s < LONG_BLEND_S / BLOCK_S:
            continue
        # two short blends and the track between them also read as one slow change at 36 s, but the
        # 12 s novelty peaks on each as high as the 36 s one; inside a long blend it stays lower
        if float(fine[int(s) : int(e) + 1].max()) > LONG_FINE_RATIO * float(nov[b]):
            continue
        if _unmixed_middle(power, s, e, c) > LONG_MIDDLE_RESIDUAL:  # a track plays there: two blends
            continue
        found.append((b, _transition((s, e, c), t0)))
    longs: list[Transition] = []
    for _, lg in sorted(found, key=lambda f: -nov[f[0]]):  # the clearer of two long blends this close
        inside = [tr.centre for tr in transitions if lg.start <= tr.centre <= lg.end]
        if inside and inside[-1] - inside[0] >= MIN_TRACK_S:  # blends a track apart: two, not one
            continue
        if all(abs(lg.centre - other.centre) >= MIN_TRACK_S for other in longs):
            longs.append(lg)
    if not longs:
        return transitions
    rest = [tr for tr in transitions if not any(lg.start <= tr.centre <= lg.end for lg in longs)]
    return sorted([*rest, *longs], key=lambda tr: tr.centre)


def _unmixed_middle(power: F64, s: float, e: float, c: float) -> float:
    """The share of the sound at a blend's centre that no mix of the sound beside it explains.

    The middle of one long blend is a mix of the track before it and the track after it; what reads
    as one slow change at 36 s but is two blends with a track between them has that track at its
    middle. 0 where there is too little sound beside the blend to tell.
    """
    ref = int(HALF_REF_S / BLOCK_S)
    a, b = max(0, int(s) - ref), min(power.shape[0], int(e) + ref)
    si, ei = int(math.floor(s)), int(math.ceil(e))
    ci = int(round(c))
    half = int(LONG_MIDDLE_S / BLOCK_S / 2)
    if not (si <= ci - half and ci + half <= ei):
        return 0.0
    fit = _middle_as_mix(power, (a, si), (ci - half, ci + half), (ei, b))
    return 0.0 if fit is None else fit[0]


def _widened(
    power: F64, smooth: F64, first: tuple[float, float, float], lo: int, hi: int
) -> tuple[float, float, float]:
    """A long blend measured again from references outside it, centred on its own centre.

    The first measure compares the 24 s either side of the novelty peak; a blend longer than that
    (16-32 bars: 45-90 s at 85 BPM) has both references inside it, so its measured extent is only
    as long as they are far apart and its centre stays where the novelty peaked (up to 20 s off).
    Each step takes references outside the extent just measured, until it stops growing.
    """
    s, e, c = first
    for _ in range(LONG_FADE_STEPS):
        if e - s < LONG_FADE_S:
            break
        s2, e2, c2 = _extent(power, smooth, int(round(c)), lo, hi, int(math.ceil((e - s) / 2)))
        if s2 < lo or e2 > hi or e2 - s2 <= 1.0:  # no fade through the wider view: keep the last
            break
        s, e, c = s2, e2, c2
    return s, e, c


def _blocks(transitions: list[Transition], t0: float) -> list[tuple[float, float, float]]:
    """(start, end, centre) of each transition in blocks from ``t0``."""
    return [
        ((tr.start - t0) / BLOCK_S, (tr.end - t0) / BLOCK_S, (tr.centre - t0) / BLOCK_S) for tr in transitions
    ]


def _transition(block: tuple[float, float, float], t0: float) -> Transition:
    """The transition at (start, end, centre) in blocks from ``t0``."""
    s, e, c = block
    return Transition(t0 + s * BLOCK_S, t0 + e * BLOCK_S, t0 + c * BLOCK_S)


def _transitions(blocks: list[tuple[float, float, float]], t0: float) -> list[Transition]:
    return [_transition(block, t0) for block in blocks]


def _with_stepped(
    power: F64, smooth: F64, nov: F64, transitions: list[Transition], t0: float, keep: Callable[[int], bool]
) -> list[Transition]:
    """``transitions`` and the blends at novelty peaks that have new sound only with a level step taken out.

    Asked last, and only outside every blend found: inside a 90 s crossfade the mix steps 3-5 dB under either
    track alone, and a peak there that counted beside the blend's own peak left two spans too narrow for
    either to be measured (both were dropped). Its blend must fit halfway to theirs and centre CLOSE_PEAK_S
    from them (tracks 45 s apart: a neighbour not yet re-centred can sit 38 s off).
    """
    n = power.shape[0]
    found = _blocks(transitions, t0)
    gap = CLOSE_PEAK_S / BLOCK_S
    for b in sorted(_pick_peaks(nov, int(gap), keep), key=lambda p: -nov[p]):  # the clearest first
        if any(s <= b <= e for s, e, _ in found):
            continue
        before = [c for _, _, c in found if c < b]
        after = [c for _, _, c in found if c > b]
        lo = int(before[-1] + b) // 2 if before else 0  # halfway to the blends beside it, as ``_spans``
        hi = int(after[0] + b) // 2 if after else n
        s, e, c = _extent(power, smooth, b, lo, hi, WINDOW_S)
        if s < lo or e > hi or e - s <= 1.0 or any(abs(c - other) < gap for _, _, other in found):
            continue  # as ``_measured`` drops it, or on a blend found
        found = sorted([*found, _widened(power, smooth, (s, e, c), lo, hi)], key=lambda f: f[2])
    return _transitions(found, t0)


def _with_missed(
    power: F64, smooth: F64, transitions: list[Transition], t0: float, keep: Callable[[int], bool]
) -> list[Transition]:
    """``transitions`` and the blends between them that neither novelty found.

    A 60-90 s blend can leave no novelty peak at either scale, and its two tracks then read as
    one. Between two found blends (or a found blend and the mix's edge), the first and last
    ``MISSED_REF_S`` that play alone are compared: when each has at least ``MIN_MISSED_CONTENT``
    of sound the other lacks (``new_content``: a breakdown only removes sound), a blend is fitted
    between them and kept where it leaves a track on each side and passes the boundary checks.
    """
    n = power.shape[0]
    blocks = _blocks(transitions, t0)
    ref = int(MISSED_REF_S / BLOCK_S)
    for _ in range(MISSED_STEPS):
        added = None
        for i in range(len(blocks) + 1):
            a = int(math.ceil(blocks[i - 1][1])) if i > 0 else 0
            b = int(math.floor(blocks[i][0])) if i < len(blocks) else n
            c_lo = blocks[i - 1][2] if i > 0 else 0.0
            c_hi = blocks[i][2] if i < len(blocks) else float(n)
            if b - a < 3 * ref or c_hi - c_lo < 2 * MIN_TRACK_S:
                continue
            left, right = power[a : a + ref].mean(axis=0), power[b - ref : b].mean(axis=0)
            if _new_content_of(left, right) < MIN_MISSED_CONTENT:
                continue
            g = _mix_share(smooth[a + ref : b - ref], left, right)
            if not np.all(np.isfinite(g)):
                continue
            c = a + ref + _centre_of(g)
            if c - c_lo < MIN_TRACK_S or c_hi - c < MIN_TRACK_S or not keep(int(round(c))):
                continue
            added = (i, (a + ref + _first_at_least(g, 0.1), a + ref + _first_at_least(g, 0.9), c))
            break
        if added is None:
            break
        blocks.insert(*added)
    return _transitions(blocks, t0)


def _middle_as_mix(
    power: F64, before: tuple[int, int], middle: tuple[int, int], after: tuple[int, int]
) -> tuple[float, float] | None:
    """How the blocks ``middle`` read as a mix of the blocks ``before`` and ``after`` (each [start, end)).

    (the share of their mean sound that no non-negative mix of the two sides' has, the incoming
    amplitude share of the best mix); (1, nan) when the two sides sound alike; None where a side has
    fewer than 3 blocks or the middle fewer than 2, too few to tell.
    """
    if before[1] - before[0] < 3 or after[1] - after[0] < 3 or middle[1] - middle[0] < 2:
        return None
    left, right = power[before[0] : before[1]].mean(axis=0), power[after[0] : after[1]].mean(axis=0)
    fit = _mix_amounts(power[middle[0] : middle[1]].mean(axis=0)[None, :], left, right)
    if fit is None:
        return 1.0, math.nan
    a, b, lv, rv, xv = fit
    rest = xv[0] - float(a[0]) * lv - float(b[0]) * rv
    sa, sb = math.sqrt(max(float(a[0]), 0.0)), math.sqrt(max(float(b[0]), 0.0))
    share = sb / (sa + sb) if sa + sb > 0 else math.nan
    return float(np.sum(np.maximum(rest, 0.0)) / max(float(np.sum(xv[0])), 1e-20)), share


def _merged_halves(power: F64, transitions: list[Transition], t0: float) -> list[Transition]:
    """``transitions`` with two neighbours that are the halves of one long blend made one.

    A 60-90 s crossfade can peak twice at the 12 s scale, near its quarters, and each peak's fade
    then measures as one half of it. Between two such "transitions" the sound is a mix of the
    tracks before the first and after the second; between two real blends a track plays that
    neither has. The merged blend runs from the first one's start to the second one's end.
    """
    blocks = _blocks(transitions, t0)
    n = power.shape[0]
    ref = int(HALF_REF_S / BLOCK_S)
    i = 0
    while i < len(blocks) - 1:
        (s1, _, c1), (_, e2, c2) = blocks[i], blocks[i + 1]
        lo = blocks[i - 1][1] if i > 0 else 0.0
        hi = blocks[i + 2][0] if i + 2 < len(blocks) else float(n)
        a, b = int(math.ceil(max(lo, s1 - ref))), int(math.floor(min(hi, e2 + ref)))
        s1i, e2i, c1i, c2i = int(math.floor(s1)), int(math.ceil(e2)), int(math.ceil(c1)), int(math.floor(c2))
        fit = _middle_as_mix(power, (a, s1i), (c1i, c2i), (e2i, b))
        if fit is not None and fit[0] < MERGE_RESIDUAL and MERGE_SHARE[0] < fit[1] < MERGE_SHARE[1]:
            blocks[i : i + 2] = [(s1, e2, 0.5 * (s1 + e2))]
            continue
        i += 1
    return _transitions(blocks, t0)


def _first_at_least(g: F64, v: float) -> float:
    above = np.flatnonzero(g >= v)
    return float(above[0]) if above.size else float(g.size)


def _centre_of(g: F64) -> float:
    """Block where the incoming share ``g`` passes one half.

    The mean of two estimates: the 0.5 crossing of a line through the blocks between 0.2 and
    0.8 (as ``_extent``), and as many blocks as ``g`` stays below one half (a count: the share of
    sequenced tracks bends over 90 s, which moves a line less than a count, and a bass swap bends
    a line).
    """
    count = float(np.sum(g < 0.5))
    mid = (g > 0.2) & (g < 0.8)
    if np.count_nonzero(mid) < 2:
        return count
    t = np.arange(g.size, dtype=np.float64) + 0.5
    slope, icpt = _line(t[mid], g[mid])
    if slope <= 0:
        return count
    return 0.5 * (count + (0.5 - icpt) / slope)


def _is_swap(g: F64, lows: F64) -> bool:
    """An EQ swap: the share of the low bands passes 0.2-0.8 in far fewer blocks than the share of all."""
    mid = (g > 0.2) & (g < 0.8)
    return bool(np.all(np.isfinite(lows))) and float(
        np.mean((lows > 0.2) & (lows < 0.8))
    ) < SWAP_RATIO * float(np.mean(mid))


def _split_difference(p: F64) -> float:
    """How far the two halves of a stretch are from the same sound (a core plays one track)."""
    h = p.shape[0] // 2
    return _difference(p[:h].mean(axis=0), p[h:].mean(axis=0))


def _cores(blocks: list[tuple[float, float, float]], n: int) -> list[tuple[int, int]]:
    """Where each track plays alone (blocks): between its two blends, within the middle third of its span.

    The first and last track: at most ``CORE_REACH_S`` beside their one blend.
    """
    out = []
    for i in range(len(blocks) + 1):
        a = blocks[i - 1][1] if i > 0 else 0.0
        b = blocks[i][0] if i < len(blocks) else float(n)
        if 0 < i < len(blocks):
            lo_c, hi_c = blocks[i - 1][2], blocks[i][2]
            third = (hi_c - lo_c) / 3.0
            a, b = max(a, lo_c + third), min(b, hi_c - third)
            if b - a < CORE_MIN_S:
                a, b = lo_c + third, hi_c - third
        elif i == 0:
            a = max(a, b - CORE_REACH_S)
        else:
            b = min(b, a + CORE_REACH_S)
        out.append((int(math.floor(a)), int(math.ceil(b))))
    return out


def _balanced(power: F64, smooth: F64, transitions: list[Transition], t0: float) -> list[Transition]:
    """Long blends re-centred where the incoming track's share passes one half between the tracks' cores.

    A 16-32-bar blend (45-90 s at 85 BPM) reaches into the references of its first measures; the
    cores of its two tracks (``_cores``: where each plays alone, between its blends) are clean
    ones. A core whose two halves differ (it may hold a missed blend) or a centre outside the
    blend's measured extent leaves the blend as it was.
    """
    blocks = _blocks(transitions, t0)
    cores = _cores(blocks, power.shape[0])
    out = []
    for i, (s, e, c) in enumerate(blocks):
        c2 = _balance_point(power, smooth, cores[i], cores[i + 1], e - s) if e - s >= BALANCE_MIN_S else None
        out.append((s, e, c) if c2 is None or not (s <= c2 <= e) else (s, e, c2))
    return _transitions(out, t0)


def _balance_point(
    power: F64, smooth: F64, left: tuple[int, int], right: tuple[int, int], length: float
) -> float | None:
    """Block where the incoming share passes one half between two cores, or None if it cannot be told.

    An EQ swap (``_is_swap``) is centred where its lows swap: the count of blocks whose low-band
    share is below one half. A crossfade at the median of the centres each ``CENTRE_GROUPS`` share
    gives, whatever its length: no one group's offset moves it (until the ninth round only those
    measured 50 s or more; shorter ones, the share of all columns, were the late misses).
    """
    (l0, l1), (r0, r1) = left, right
    if l1 - l0 < 2 or r1 - r0 < 2 or r0 - l1 < 2:
        return None
    if max(_split_difference(power[l0:l1]), _split_difference(power[r0:r1])) > MAX_CORE_DIFFERENCE:
        return None
    lm, rm = power[l0:l1].mean(axis=0), power[r0:r1].mean(axis=0)
    g = _mix_share(smooth[l1:r0], lm, rm)
    if not np.all(np.isfinite(g)):
        return None
    low = slice(0, LOW_BANDS)
    lows = _mix_share(smooth[l1:r0, low], lm[low], rm[low])
    swap_at = float(np.sum(lows < 0.5))
    centre = _centre_of(g)
    if _is_swap(g, lows) and abs(swap_at - centre) <= SWAP_SPREAD * length:
        return l1 + swap_at
    centres = [centre]  # the first group is all columns: its share is g, which is finite
    for cols in CENTRE_GROUPS[1:]:
        share = _mix_share(smooth[l1:r0, cols], lm[cols], rm[cols])
        if np.all(np.isfinite(share)):
            centres.append(_centre_of(share))
    return l1 + float(np.median(centres))


def transition_at(feats: Features, start: int, end: int, at_s: float) -> Transition | None:
    """The crossfade around ``at_s`` (a tempo step found inside a span), or None for a clean cut.

    Used when two tracks sound alike but differ in tempo: the novelty curve misses them,
    the tempo tracker does not, and the mixture fit tells a crossfade from a tempo step.
    """
    fr = feats.onset_rate
    t0, t1 = start / fr, end / fr
    power = block_power(feats, t0, t1)
    b = int(round((at_s - t0) / BLOCK_S))
    if power.shape[0] < 2 * WINDOW_S + 1 or not (WINDOW_S <= b < power.shape[0] - WINDOW_S):
        return None
    s, e, c = _extent(power, _smooth(power, SMOOTH_BLOCKS), b, 0, power.shape[0], WINDOW_S)
    if e - s < MIN_FADE_S or not (s <= b <= e):
        return None
    return _transition((s, e, c), t0)
