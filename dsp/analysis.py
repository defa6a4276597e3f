"""Offline analysis of a file or PCM array into the JSON object of `djmesh analyze`.

Every float is rounded here (times to the millisecond, BPM to 0.01, levels to
0.01 dB, confidences to 1e-4) so that the JSON is bit-identical across runs,
processes and thread counts: consensus compares these bytes.
"""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Any

import numpy as np
import numpy.typing as npt

from . import set_phase
from .beats import BeatGrid, bar_profile, chroma_change, downbeat_scores, fit_grid, moved_beat
from .decode import Decoder
from .errors import AnalysisError
from .features import Features, extract, pcm_blocks
from .genre import genre_probabilities
from .key import estimate_key, summarise_chroma, tonic_triad_shares
from .progress import AnalysisProgress, ProgressCallback, reported
from .segment import Segmentation, Transition, segment_features, transition_at
from .tempo import estimate_tempo, tempo_changes

MIN_DURATION_S = 2.0
#: Inputs shorter than this are treated as possible loops (see ``_loop_bpm``).
LOOP_MAX_S = 20.0
#: A tempo step splits a track only if both sides last this long.
MIN_TEMPO_PIECE_S = 30.0
SILENCE_LUFS = -70.0


def _r(x: float, digits: int) -> float:
    """Deterministic rounding that never yields -0.0 or non-finite values."""
    if not math.isfinite(x):
        return 0.0
    v = round(float(x), digits)
    return 0.0 if v == 0 else v


def analyze_path(
    path: str,
    *,
    bpm_range: tuple[float, float] | None = None,
    progress: ProgressCallback | None = None,
) -> dict[str, object]:
    """Analyse one input; never raises for bad input, returns ``{"path", "error"}`` instead.

    ``progress`` (optional) hears how far it has got while it decodes, and 1.0 when it is done.
    """
    try:
        decoder = Decoder(path)
        blocks = decoder.blocks()
        if progress is not None:
            blocks = reported(blocks, decoder.info, progress)
        feats = extract(blocks, decoder.info.sample_rate, decoder.info.channels)
        result = analyze_features(feats, bpm_range=bpm_range)
        if progress is not None:
            progress(AnalysisProgress(feats.duration, 1.0))
    except AnalysisError as exc:
        return {"path": path, "error": str(exc)}
    except MemoryError:
        return {"path": path, "error": f"out of memory while analysing {path}"}
    except Exception as exc:  # never let one bad input stop a batch
        return {
            "path": path,
            "error": f"cannot analyse {path}: {exc.__class__.__name__}: {exc}".splitlines()[0],
        }
    return {"path": path, **result}


def analyze_pcm(
    samples: npt.NDArray[np.floating[Any]],
    sample_rate: int,
    *,
    bpm_range: tuple[float, float] | None = None,
) -> dict[str, object]:
    """Analyse float PCM, (n,) mono or (n, channels); raises AnalysisError for unusable input."""
    arr = np.asarray(samples)
    if arr.ndim not in (1, 2) or arr.size == 0:
        raise AnalysisError("no audio samples")
    if sample_rate <= 0:
        raise AnalysisError(f"invalid sample rate: {sample_rate}")
    if not np.all(np.isfinite(arr)):
        raise AnalysisError("samples contain NaN or infinity")
    channels = 1 if arr.ndim == 1 else min(arr.shape[1], 2)
    feats = extract(pcm_blocks(arr.astype(np.float32), sample_rate), sample_rate, channels)
    return analyze_features(feats, bpm_range=bpm_range)


def _check_usable(feats: Features) -> None:
    if feats.n_samples == 0:
        raise AnalysisError("no audio samples decoded (empty stream)")
    if feats.duration < MIN_DURATION_S:
        raise AnalysisError(f"audio too short: {feats.duration:.2f} s (minimum {MIN_DURATION_S:g} s)")
    lufs = feats.loudness.integrated_lufs
    if not math.isfinite(lufs) or lufs < SILENCE_LUFS or feats.loudness.sample_peak < 1e-4:
        raise AnalysisError("audio is silent")


def _active_range(feats: Features) -> tuple[int, int]:
    """Onset frames spanned by audible audio (RMS within 40 dB of the loudest 0.1 s)."""
    rms = feats.rms
    ratio = feats.onset_rate / feats.texture_rate
    n = feats.broad.size
    if rms.size == 0 or float(rms.max()) <= 0:
        return 0, n
    on = np.flatnonzero(rms > 0.01 * float(rms.max()))
    start = int(max(0, math.floor(on[0] * ratio - ratio / 2)))
    end = int(min(n, math.ceil(on[-1] * ratio + ratio / 2) + 1))
    return start, max(end, start + 1)


def _grid_for(
    feats: Features, start: int, end: int, bpm_range: tuple[float, float] | None
) -> tuple[BeatGrid, float]:
    est = estimate_tempo(
        feats.broad[start:end] + feats.low[start:end],
        feats.onset_rate,
        bpm_range,
        hats=feats.high[start:end],
        kicks=feats.low[start:end],
    )
    grid = fit_grid(feats.broad64, feats.low64, est.bpm, feats.onset_rate, start, end)
    looped = _loop_bpm(_bpm(grid, feats.onset_rate), feats.duration)
    if looped:
        # a loop is cut on a bar line: its first sample is the first beat and downbeat
        grid = BeatGrid(60.0 * feats.onset_rate / looped, 0.0, start, end, loop=True)
    return grid, est.confidence


def _pieces(
    feats: Features,
    t_start: float,
    t_end: float,
    c_start: float,
    c_end: float,
    a_start: int,
    a_end: int,
    bpm_range: tuple[float, float] | None,
) -> list[tuple[tuple[float, float], BeatGrid, float]]:
    """One track span split where its tempo steps (a new tune at the same sound, or a DJ's pitch move).

    Each piece gets its own grid, fitted on its part of the core and laid over its span.
    """
    fr = feats.onset_rate
    cs, ce = max(a_start, int(round(c_start * fr))), min(a_end, int(round(c_end * fr)))
    grid, conf = _grid_for(feats, cs, ce, bpm_range)
    splits: list[int] = []
    if grid.period > 0 and (ce - cs) >= 2 * MIN_TEMPO_PIECE_S * fr:
        env = feats.broad + feats.low
        splits = tempo_changes(env, fr, _bpm(grid, fr), cs, ce, int(MIN_TEMPO_PIECE_S * fr))
    if not splits:
        s, e = max(a_start, int(round(t_start * fr))), min(a_end, int(round(t_end * fr)))
        return [((t_start, t_end), replace(grid, start=s, end=e), conf)]
    out = []
    span_edges = [t_start, *(f / fr for f in splits), t_end]
    core_edges = [cs, *splits, ce]
    for i in range(len(splits) + 1):
        g, c = _grid_for(feats, core_edges[i], core_edges[i + 1], bpm_range)
        s = max(a_start, int(round(span_edges[i] * fr)))
        e = min(a_end, int(round(span_edges[i + 1] * fr)))
        out.append(((span_edges[i], span_edges[i + 1]), replace(g, start=s, end=e), c))
    return out


def _loop_bpm(bpm: float, duration: float) -> float:
    """Exact tempo of a short sample loop: a whole number of bars (4, 8, 16 or 32 beats) in the file.

    Loops are cut to an exact length, so when the measured tempo puts a whole number
    of bars within 3 % of the file length, the length is the better clock.
    """
    if bpm <= 0 or duration > LOOP_MAX_S:
        return 0.0
    beats = bpm * duration / 60.0
    for n in (4, 8, 16, 32):
        if abs(beats - n) <= 0.03 * n:
            return 60.0 * n / duration
    return 0.0


def _bpm(grid: BeatGrid, frame_rate: float) -> float:
    return 0.0 if grid.period <= 0 else 60.0 * frame_rate / grid.period


def texture_span(feats: Features, start_s: float, end_s: float) -> slice:
    """The texture frames (chroma, timbre) that [start_s, end_s] is read from: at least one."""
    a = int(start_s * feats.texture_rate)
    return slice(a, max(a + 1, int(math.ceil(end_s * feats.texture_rate))))


def _key_of(feats: Features, start_s: float, end_s: float) -> tuple[str, str, float]:
    frames = feats.chroma[texture_span(feats, start_s, end_s)]
    k = estimate_key(summarise_chroma(frames), triads=tonic_triad_shares(frames))
    if k is None:
        return "", "", 0.0
    return k.name, k.camelot, k.confidence


#: seconds of each track beside its blend that count as "the sound at the blend" (a cut has no blend)
BLEND_CONTEXT_S = 8.0


def blend_keys(
    feats: Features, start_s: float, end_s: float, out_from_s: float, in_to_s: float
) -> tuple[str, str]:
    """Keys of the outgoing and the incoming track as they sound around the blend [start_s, end_s].

    A track's whole-length key can differ from what plays at its blend (an intro, a breakdown
    in another key), and a clash is heard at the blend: the outgoing key is read from
    ``BLEND_CONTEXT_S`` before the blend to its centre (where the outgoing track dominates), the
    incoming one from the centre to ``BLEND_CONTEXT_S`` after it, neither reaching past its track
    (``out_from_s``, ``in_to_s``).
    """
    centre = 0.5 * (start_s + end_s)
    key_out, _, _ = _key_of(feats, max(out_from_s, start_s - BLEND_CONTEXT_S), centre)
    key_in, _, _ = _key_of(feats, centre, min(in_to_s, end_s + BLEND_CONTEXT_S))
    return key_out, key_in


def analyze_features(feats: Features, *, bpm_range: tuple[float, float] | None = None) -> dict[str, object]:
    """Turn features into the rounded result dict (without ``path``)."""
    _check_usable(feats)
    fr = feats.onset_rate
    a_start, a_end = _active_range(feats)
    seg: Segmentation = segment_features(feats, a_start, a_end)
    beats: list[float] = []
    downbeats: list[float] = []
    tracks: list[dict[str, object]] = []
    grids: list[BeatGrid] = []
    confidences: list[tuple[float, float]] = []
    pieces: list[tuple[tuple[float, float], BeatGrid, float]] = []
    bounds: list[Transition | None] = []  # between piece i and i + 1: a crossfade or a tempo step
    for j, ((t_start, t_end), (c_start, c_end)) in enumerate(zip(seg.tracks, seg.cores, strict=True)):
        for k, piece in enumerate(_pieces(feats, t_start, t_end, c_start, c_end, a_start, a_end, bpm_range)):
            if pieces:
                bounds.append(
                    seg.transitions[j - 1] if k == 0 else transition_at(feats, a_start, a_end, piece[0][0])
                )
            pieces.append(piece)
    for i, tr in enumerate(bounds):  # a tempo step that was a crossfade moves the boundary to its centre
        if tr is not None:
            (s0, _), g0, c0 = pieces[i]
            (_, e1), g1, c1 = pieces[i + 1]
            pieces[i] = ((s0, tr.centre), g0, c0)
            pieces[i + 1] = ((tr.centre, e1), g1, c1)
    for (p_start, p_end), fitted, conf in pieces:
        grid = replace(
            fitted, start=max(a_start, int(round(p_start * fr))), end=min(a_end, int(round(p_end * fr)))
        )
        grids.append(grid)
        confidences.append((conf, grid.end - grid.start))
    # a set settles each grid's half (or quarter) beat, then its bar line, from how its neighbours line up at the blends
    blends = [None if tr is None else (tr.start * fr, tr.end * fr) for tr in bounds]
    middle = set_phase.middle_band(feats.broad, feats.low, feats.high)
    profiles = [bar_profile(g.beat_frames(), feats.low64, feats.broad64) for g in grids]
    moves = set_phase.settle_beat_phases(
        grids,
        blends,
        [set_phase.vote(middle, g) for g in grids],
        [set_phase.quarter_votes(feats.broad64, g) for g in grids],
        profiles,
    )
    moved = [moved_beat(feats.broad64, feats.low64, g, q) for g, q in zip(grids, moves, strict=True)]
    # a moved grid reads its groove again (each bin now holds another sixteenth); most grids stay as they were
    profiles = [
        p if m is g else bar_profile(m.beat_frames(), feats.low64, feats.broad64)
        for g, m, p in zip(grids, moved, profiles, strict=True)
    ]
    grids = moved
    bar_scores = []
    for grid in grids:
        frames = grid.beat_frames()
        if grid.loop and frames.size:  # beats count from the loop's first sample, a bar line
            fixed = -int(round((frames[0] - grid.phase) / grid.period)) % 4
            bar_scores.append(_known_downbeat(fixed))
        else:
            change = chroma_change(frames, feats.chroma, fr, feats.texture_rate, feats.chroma_sums)
            bar_scores.append(downbeat_scores(frames, feats.low64, feats.broad64, change))
    if len(grids) > 1:  # a set's first sound and the end of its last are its end tracks' bar lines
        env = feats.broad64 + feats.low64
        ratio = feats.texture_rate / fr
        first = set_phase.edge_downbeats(grids[0], env, feats.rms, ratio, True, a_start)
        if first is not None:
            bar_scores[0] = _known_downbeat(first)
            # where the audio stops is known to a level frame (0.2 s), too coarse to tell a grid half a
            # beat off: the last grid counts as on the beat only in line with the first one, found on it
            if set_phase.on_one_beat(grids, blends):
                last = set_phase.edge_downbeats(grids[-1], env, feats.rms, ratio, False, a_end)
                if last is not None:
                    bar_scores[-1] = _known_downbeat(last)
    offsets = set_phase.settle_bars(grids, blends, bar_scores, profiles)
    bars_apart = set_phase.bar_offsets(grids, blends, bar_scores, profiles)
    for ((p_start, p_end), _, _), grid, off in zip(pieces, grids, offsets, strict=True):
        frames = grid.beat_frames()
        times = [max(0.0, f / fr) for f in frames]
        beats.extend(times)
        downbeats.extend(times[off::4])
        key, _, _ = _key_of(feats, p_start, p_end)
        tracks.append(
            {"start": _r(p_start, 3), "end": _r(p_end, 3), "bpm": _r(_bpm(grid, fr), 2), "key": key}
        )
    main = int(np.argmax([w for _, w in confidences])) if confidences else 0
    bpm = _bpm(grids[main], fr) if grids else 0.0
    bpm_conf = confidences[main][0] if confidences else 0.0
    key, cam, key_conf = _key_of(feats, a_start / fr, a_end / fr)
    transitions = []
    for i, tr in enumerate(bounds):
        if tr is None:
            continue
        key_out, key_in = blend_keys(feats, tr.start, tr.end, pieces[i][0][0], pieces[i + 1][0][1])
        apart = bars_apart[i]
        transitions.append(
            {
                "start": _r(tr.start, 3),
                "end": _r(tr.end, 3),
                "centre": _r(tr.centre, 3),
                "beat_offset_ms": _r(_beat_offset_ms(grids[i], grids[i + 1], tr.centre, fr), 1),
                **({} if apart is None else {"bar_off": _r(apart, 3)}),
                "key_out": key_out,
                "key_in": key_in,
            }
        )
    lo = feats.loudness
    beat_list = sorted({_r(b, 3) for b in beats})
    return {
        "duration": _r(feats.duration, 3),
        "sample_rate": feats.sample_rate,
        "bpm": _r(bpm, 2),
        "bpm_confidence": _r(bpm_conf, 4),
        "beats": beat_list,
        "downbeats": sorted({_r(b, 3) for b in downbeats}),
        "key": key,
        "camelot": cam,
        "key_confidence": _r(key_conf, 4),
        "loudness_lufs": _r(lo.integrated_lufs, 2),
        "true_peak_dbtp": _r(lo.true_peak_dbtp, 2),
        "clipped_fraction": _r(lo.clipped_fraction, 6),
        "tracks": tracks,
        "transitions": transitions,
        "genre": genre_probabilities(feats, beat_list, _r(bpm, 2)),
    }


def _known_downbeat(index: int) -> npt.NDArray[np.float64]:
    """Bar-line scores of a grid whose downbeat is known (a loop's first sample, a set's edge): the
    other three candidates are ruled out."""
    return np.where(np.arange(4) == index, 0.0, -np.inf)


def _beat_offset_ms(out: BeatGrid, inc: BeatGrid, centre_s: float, frame_rate: float) -> float:
    """Signed distance from the incoming track's nearest beat to the outgoing one's, at ``centre``."""
    if out.period <= 0 or inc.period <= 0:
        return 0.0
    c = centre_s * frame_rate
    b_out = out.phase + round((c - out.phase) / out.period) * out.period
    b_in = inc.phase + round((b_out - inc.phase) / inc.period) * inc.period
    return (b_in - b_out) / frame_rate * 1000.0


def format_summary(result: dict[str, object]) -> str:
    """A few human-readable lines for one result dict (error results included)."""
    path = str(result.get("path", "?"))
    if "error" in result:
        return f"{path}\n  error: {result['error']}"
    lines = [
        path,
        f"  duration {_fmt_time(float(result['duration']))}  "  # type: ignore[arg-type]
        f"tempo {result['bpm']} BPM (confidence {float(result['bpm_confidence']):.2f})  "  # type: ignore[arg-type]
        f"key {result['key'] or '?'} ({result['camelot'] or '-'})",
        f"  loudness {result['loudness_lufs']} LUFS  true peak {result['true_peak_dbtp']} dBTP  "
        f"clipped {100.0 * float(result['clipped_fraction']):.3f} %",  # type: ignore[arg-type]
        f"  {len(result['beats'])} beats, {len(result['downbeats'])} downbeats",  # type: ignore[arg-type]
    ]
    genre = result.get("genre")
    if isinstance(genre, dict) and genre:
        ranked = sorted(genre.items(), key=lambda kv: (-float(kv[1]), kv[0]))[:3]
        lines.append("  genre " + ", ".join(f"{g} {float(p):.0%}" for g, p in ranked))
    tracks = result.get("tracks") or []
    transitions = result.get("transitions") or []
    if isinstance(tracks, list) and len(tracks) > 1:
        lines.append(f"  {len(tracks)} tracks, {len(transitions)} transitions:")  # type: ignore[arg-type]
        for t in tracks:
            lines.append(
                f"    {_fmt_time(t['start'])}-{_fmt_time(t['end'])}  {t['bpm']} BPM  {t['key'] or '?'}"
            )
    return "\n".join(lines)


def _fmt_time(s: float) -> str:
    m, sec = divmod(float(s), 60.0)
    return f"{int(m)}:{sec:04.1f}"
