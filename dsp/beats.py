"""Constant-tempo beat grid fitted by phasor regression, and downbeats.

Dance music is played on a fixed grid, so rather than picking beats one by one
(dynamic programming drifts onto syncopation) we fit one period and phase per
constant-tempo region. The beat comb that collects the most onset strength (low
band counted twice) over the central 32 beats seeds the phase; the half-beat ambiguity (kick on the beat vs
hi-hat off the beat) is settled by the low-band (kick) envelope; then a robust
line through the onset peaks next to each beat, over a span doubled each round,
pins period and phase (period error well under 0.01 %). In a mix of several tracks the half beat
and the bar line are settled again over the whole set (``set_phase``), where the neighbours at the
blends say what one track alone cannot.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np
import numpy.typing as npt

F32 = npt.NDArray[np.float32]
F64 = npt.NDArray[np.float64]
#: an onset envelope, as the front end makes it or already in float64
Envelope = F32 | F64

#: Frames by which the flux peak lags a sharp onset (negative: it precedes it); calibrated on
#: click and drum tracks (512-sample window), where peaks sit 2.5 ms before the true onset.
ONSET_LAG_FRAMES = -0.25
EDGE_TOLERANCE_FRAMES = 3.0
#: The tempo estimate is good to ~0.1 %; the peak fit may correct it by at most this much.
_MAX_CORRECTION = 0.005
_SEED_BEATS = 32
_CHORD_CHANGE = 0.08  # mean chroma change on a bar phase that starts to count as harmony moving  # beats around the centre that seed the phase before the fit grows outwards


@dataclass(frozen=True)
class BeatGrid:
    """Beats at ``phase + k * period`` (frames) for frames in [start, end).

    ``loop`` marks a grid taken from a sample loop's length: it starts on the loop's
    first sample, which is also a bar line.
    """

    period: float
    phase: float
    start: int
    end: int
    loop: bool = False

    @property
    def bpm_at(self) -> float:
        return 0.0 if self.period <= 0 else 60.0 / self.period

    def beat_frames(self) -> F64:
        if self.period <= 0:
            return np.zeros(0)
        # a beat that lands a few frames before the first frame (onset at t=0) is still a beat
        k0 = math.ceil((self.start - EDGE_TOLERANCE_FRAMES - self.phase) / self.period)
        k1 = math.floor((self.end - 1 - self.phase) / self.period)
        if k1 < k0:
            return np.zeros(0)
        return np.asarray(self.phase + np.arange(k0, k1 + 1) * self.period, dtype=np.float64)


def _best_phase(weighted: F64, period: float, s0: int, s1: int) -> float:
    """Phase (frames, absolute) whose beat comb over [s0, s1) collects the most onset strength.

    Exhaustive over half-frame steps: a phasor would be pulled off the beat by chords
    and fills, while the comb's maximum stays on the strongest pulse train.
    """
    phases = np.arange(0.0, period, 0.5)
    k = np.arange(0, max(1, int((s1 - s0) / period)))
    pos = np.rint(s0 + phases[:, None] + k[None, :] * period).astype(np.intp)
    pos = np.clip(pos, 0, weighted.size - 1)
    vals = weighted[pos]
    for d in (-1, 1):
        vals = np.maximum(vals, weighted[np.clip(pos + d, 0, weighted.size - 1)])
    return float((s0 + phases[int(np.argmax(vals.sum(axis=1)))]) % period)


def beat_peaks(env: F64, frames: F64, radius: int = 1) -> F64:
    """The envelope's largest value within ``radius`` frames of each of ``frames`` (one per beat)."""
    idx = np.rint(frames).astype(np.intp)
    vals = np.zeros(idx.size)
    for d in range(-radius, radius + 1):
        j = np.clip(idx + d, 0, env.size - 1)
        vals = np.maximum(vals, env[j])
    return vals


def sample_max(env: F64, frames: F64, radius: int = 1) -> float:
    if frames.size == 0:
        return 0.0
    return float(beat_peaks(env, frames, radius).mean())


def fit_grid(
    broad: Envelope,
    low: Envelope,
    bpm: float,
    frame_rate: float,
    start: int,
    end: int,
    *,
    refine: bool = True,
) -> BeatGrid:
    """Fit period (unless ``refine`` is False) and phase to frames [start, end) given a tempo.

    The envelopes may come in float64 already (``Features.broad64``): a mix fits one grid per track
    over the whole mix's envelopes, and converting them once per track grew with tracks x length."""
    if bpm <= 0 or end - start < 4:
        return BeatGrid(0.0, 0.0, start, end)
    period = anchor = 60.0 * frame_rate / bpm
    low_full = np.asarray(low, dtype=np.float64)
    env = np.asarray(broad, dtype=np.float64) + low_full
    centre = 0.5 * (start + end)
    span = min(_SEED_BEATS / 2.0 * period, 0.5 * (end - start))
    s0, s1 = int(centre - span), int(math.ceil(centre + span))
    phase = _best_phase(env + low_full, period, s0, s1)
    # kick on the beat, hats off it: pick whichever half-beat phase the low band prefers
    s_main = sample_max(low_full, BeatGrid(period, phase, s0, s1).beat_frames())
    s_alt = sample_max(low_full, BeatGrid(period, phase + period / 2.0, s0, s1).beat_frames())
    if s_alt > 1.15 * s_main:
        phase = (phase + period / 2.0) % period
    # grow the fitted span from the centre so period error never accumulates past the search radius
    while True:
        a, e = max(start, int(centre - span)), min(end, int(math.ceil(centre + span)))
        beats = BeatGrid(period, phase, a, e).beat_frames()
        period, phase = _fit_peaks(env, beats, period, fit_period=refine, anchor=anchor)
        if a == start and e == end:
            break
        span *= 2.0
    return BeatGrid(period, (phase - ONSET_LAG_FRAMES) % period, start, end)


def moved_beat(broad: Envelope, low: Envelope, grid: BeatGrid, quarters: int) -> BeatGrid:
    """``grid`` moved ``quarters`` quarter beats later, its phase fitted again to the onset peaks there
    (the period kept)."""
    if grid.period <= 0 or quarters % 4 == 0:
        return grid
    env = np.asarray(broad, dtype=np.float64) + np.asarray(low, dtype=np.float64)
    shift = 0.25 * (quarters % 4) * grid.period
    moved = replace(grid, phase=(grid.phase + ONSET_LAG_FRAMES + shift) % grid.period)
    beats = moved.beat_frames()
    if beats.size == 0:
        return grid
    _, phase = _fit_peaks(env, beats, grid.period, fit_period=False)
    return replace(grid, phase=(phase - ONSET_LAG_FRAMES) % grid.period)


def _fit_peaks(
    x: F64, beats: F64, period: float, *, fit_period: bool = True, anchor: float | None = None
) -> tuple[float, float]:
    """Robust straight-line fit of onset-peak times against beat index: (period, phase) in frames.

    Each grid beat is moved to the sub-frame peak of the onset envelope nearest it;
    a weighted least-squares line through those peaks, refitted without outliers,
    pins the period far better than any spectral estimate on a short excerpt.
    """
    peaks, wts, k = _peaks_near(x, beats, period)
    if peaks.size == 0:
        return period, (float(beats[0]) if beats.size else 0.0) % period
    if peaks.size < 8 or not fit_period:
        off = _weighted_median(peaks - (float(beats[0]) + k * period), wts)
        return period, (float(beats[0]) + off) % period
    keep = np.ones(peaks.size, bool)
    slope, icpt = period, float(peaks[0] - beats[0])
    for _ in range(3):
        kk, pp, ww = k[keep], peaks[keep] - float(beats[0]), wts[keep]
        km = float(np.sum(ww * kk) / np.sum(ww))
        pm = float(np.sum(ww * pp) / np.sum(ww))
        den = float(np.sum(ww * (kk - km) ** 2))
        if den <= 0:
            break
        slope = float(np.sum(ww * (kk - km) * (pp - pm)) / den)
        icpt = pm - slope * km
        resid = np.abs(peaks - float(beats[0]) - (icpt + slope * k))
        new_keep = resid <= max(1.0, 2.5 * _weighted_median(resid, wts))
        if np.array_equal(new_keep, keep) or np.count_nonzero(new_keep) < 8:
            break
        keep = new_keep
    ref = anchor if anchor is not None else period
    if not (1.0 - _MAX_CORRECTION) * ref < slope < (1.0 + _MAX_CORRECTION) * ref:
        return _fit_peaks(x, beats, period, fit_period=False)
    return slope, (icpt + float(beats[0])) % slope


def _weighted_median(v: F64, w: F64) -> float:
    order = np.argsort(v, kind="stable")
    cw = np.cumsum(w[order])
    return float(v[order][int(np.searchsorted(cw, 0.5 * cw[-1]))])


def _peaks_near(x: F64, beats: F64, period: float) -> tuple[F64, F64, F64]:
    """Sub-frame onset-peak position, height and beat index near each beat (peakless beats skipped)."""
    radius = max(1, int(period / 6.0))
    offs: list[float] = []
    wts: list[float] = []
    idx: list[float] = []
    for i, b in enumerate(beats):
        c = int(round(b))
        lo, hi = max(1, c - radius), min(x.size - 1, c + radius + 1)
        if hi - lo < 3:
            continue
        seg = x[lo:hi]
        j = int(np.argmax(seg))
        if seg[j] <= 0 or j == 0 or j == seg.size - 1:
            continue
        y0, y1, y2 = float(seg[j - 1]), float(seg[j]), float(seg[j + 1])
        den = y0 - 2.0 * y1 + y2
        frac = 0.0 if den == 0 else 0.5 * (y0 - y2) / den
        offs.append(lo + j + frac)
        wts.append(y1)
        idx.append(float(i))
    return np.asarray(offs, dtype=np.float64), np.asarray(wts, dtype=np.float64), np.asarray(idx)


def downbeat_scores(
    beat_frames: F64, low: Envelope, broad: Envelope, chroma_change: F64 | None = None
) -> F64:
    """Score of each of the four candidate bar phases (index of the first downbeat among
    ``beat_frames``, 4/4 assumed), standardised; all zero with under 8 beats.

    Two cues, each standardised over the four candidate bar phases and added: the kick
    (low band, minus any back-beat snare excess) and harmonic change (chords and bass
    notes change on bar lines). Four-on-the-floor drums alone carry no bar phase, so
    the harmonic cue decides wherever there is harmony.
    """
    if beat_frames.size < 8:
        return np.zeros(4)
    lowd = np.asarray(low, dtype=np.float64)
    broadd = np.asarray(broad, dtype=np.float64)
    kick = []
    for o in range(4):
        sel = beat_frames[o::4]
        kick.append(sample_max(lowd, sel) - 0.5 * max(0.0, sample_max(broadd, sel) - sample_max(lowd, sel)))
    score = _standardise(np.asarray(kick))
    if chroma_change is not None and chroma_change.size == beat_frames.size:
        change = np.asarray([float(np.mean(chroma_change[o::4])) for o in range(4)])
        # only real chord changes count: drums alone give chroma jitter of ~0.01-0.1
        weight = 1.5 * min(1.0, max(0.0, (float(change.max()) - _CHORD_CHANGE) / _CHORD_CHANGE))
        score = score + weight * _standardise(change)
    return np.asarray(score, dtype=np.float64)


#: a bar_profile samples each beat at this many evenly spaced steps (sixteenth notes)
PROFILE_STEPS = 4


def bar_profile(beat_frames: F64, low: Envelope, broad: Envelope) -> F64 | None:
    """A track's groove over one bar: kick-band and all-band onset strength at each sixteenth of the four
    beat phases (``beat_frames`` index mod 4), each band standardised; shape (2, 4, PROFILE_STEPS). None
    with under 8 beats or a flat band.

    Two neighbours of a set that play the same groove (kick, snare and hats on the same sixteenths) say
    by how they line up where their bar lines meet (``set_phase.pattern_match``), where neither track's
    own downbeat is clear, and which of their grids sits a quarter beat off (``set_phase.groove_shifts``)."""
    if beat_frames.size < 8:
        return None
    period = float(np.median(np.diff(beat_frames)))
    bands = []
    for env in (low, broad):
        envd = np.asarray(env, dtype=np.float64)
        steps = [
            sample_max(envd, beat_frames[o::4] + k * period / PROFILE_STEPS)
            for o in range(4)
            for k in range(PROFILE_STEPS)
        ]
        band = _standardise(np.asarray(steps))
        if not np.any(band):
            return None
        bands.append(band.reshape(4, PROFILE_STEPS))
    return np.stack(bands)


def downbeat_offset(beat_frames: F64, low: F32, broad: F32, chroma_change: F64 | None = None) -> int:
    """Index (0..3) of the first downbeat among ``beat_frames``, assuming 4/4 (``downbeat_scores``)."""
    if beat_frames.size < 8:
        return 0
    return int(np.argmax(downbeat_scores(beat_frames, low, broad, chroma_change)))


def _standardise(v: F64) -> F64:
    sd = float(np.std(v))
    return (
        np.zeros_like(v) if sd < 1e-9 * (float(np.max(np.abs(v))) + 1e-12) else (v - float(np.mean(v))) / sd
    )


def chroma_sums(chroma: F32) -> F64:
    """Running sums of ``chroma`` in float64, a zero row first: any stretch's sum is two rows' difference."""
    return np.cumsum(np.concatenate([np.zeros((1, 12)), chroma.astype(np.float64)]), axis=0)


def chroma_change(
    beat_frames: F64, chroma: F32, onset_rate: float, texture_rate: float, sums: F64 | None = None
) -> F64:
    """Per beat: 1 - cosine similarity of the chroma in the beat before and the beat from it.

    ``sums`` (``chroma_sums(chroma)``, e.g. ``Features.chroma_sums``) saves summing the whole mix
    again for every track."""
    if beat_frames.size < 2 or chroma.shape[0] == 0:
        return np.zeros(beat_frames.size)
    t = beat_frames / onset_rate * texture_rate
    edges = np.clip(np.rint(np.append(t, 2 * t[-1] - t[-2])).astype(np.intp), 0, chroma.shape[0])
    c = chroma_sums(chroma) if sums is None else sums
    per_beat = c[edges[1:]] - c[edges[:-1]]  # chroma summed over each beat
    norm = np.sqrt(np.sum(per_beat * per_beat, axis=1)) + 1e-12
    unit = per_beat / norm[:, None]
    sim = np.sum(unit[1:] * unit[:-1], axis=1)
    return np.asarray(np.concatenate([[0.0], 1.0 - sim]), dtype=np.float64)
