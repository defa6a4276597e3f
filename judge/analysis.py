"""The judge's view of a set: the dsp analysis plus a per-second level curve, in one decode.

Gain staging (level jumps between tracks, bumps during a blend) needs loudness over
time, which the dsp result does not carry; its feature pass already computes frame RMS,
so we read it there rather than decode the audio twice.

Short sets (tracks under the 40 s the dsp segmentation needs, as in a quick demo) are
segmented by the DJ's declared cues instead: each track's solo part is analysed on its
own and the beat offset at each cue comes from the two tracks' grids. The result says
which way it was segmented (``segmented_by``), and the judge flags it.
"""

from __future__ import annotations

import itertools
import math
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from djmesh.dsp.analysis import analyze_features, blend_keys, texture_span
from djmesh.dsp.decode import Decoder
from djmesh.dsp.errors import AnalysisError
from djmesh.dsp.features import Features, extract, pcm_blocks
from djmesh.dsp.key import key_evidence

#: share of a declared track's span that may still overlap the previous track (its fade-in)
FADE_SHARE = 0.4

#: PCM in memory: (samples, sample rate)
Pcm = tuple[npt.NDArray[np.floating[Any]], int]
#: a file, PCM, or the finished feature pass of PCM (``dsp.features.PcmFeed``: run while a set arrived)
Source = str | Path | Pcm | Features


class JudgeInputError(Exception):
    """A set cannot be judged (missing, not audio, too short, silent)."""


def levels_db(feats: Features) -> list[float]:
    """RMS level per whole second (dB re full scale, 0.1 dB steps, floor -90)."""
    per = int(round(feats.texture_rate))
    rms = np.asarray(feats.rms, dtype=np.float64)
    out = []
    for i in range(rms.size // per):
        out.append(_level_db(math.fsum(float(v) * float(v) for v in rms[i * per : (i + 1) * per]) / per))
    return out


def level_frames_db(feats: Features) -> list[float]:
    """RMS level per feature frame (0.2 s; dB re full scale, 0.1 dB steps, floor -90): fine enough to read a
    track's level over whole bars (``judge.features.bars_level_db``)."""
    return [_level_db(float(v) * float(v)) for v in np.asarray(feats.rms, dtype=np.float64)]


def _level_db(power: float) -> float:
    """A mean square as the judge's levels carry it: dB re full scale, 0.1 dB steps, floor -90."""
    return round(max(-90.0, 10.0 * math.log10(power)), 1) if power > 1e-9 else -90.0


def _recording(feats: Features, start_s: float, end_s: float) -> dict[str, Any]:
    """What tells one recording from another and what its key is read from (``judge.shared_keys``):
    the key evidence and the mean level of each timbre band (dB)."""
    out: dict[str, Any] = {}
    span = texture_span(feats, start_s, end_s)
    evidence = key_evidence(feats.chroma[span])
    if evidence is not None:
        out["key_evidence"] = evidence.as_json()
    bands = np.asarray(feats.timbre[span], dtype=np.float64)
    if bands.size:
        out["timbre_db"] = [round(float(v), 1) for v in 20.0 * bands.mean(axis=0)]
    return out


def _features(source: Source) -> Features:
    if isinstance(source, Features):
        if source.n_samples == 0:
            raise AnalysisError("no usable audio samples")
        return source
    if isinstance(source, tuple):
        samples, rate = source
        arr = np.asarray(samples, dtype=np.float32)
        if arr.ndim not in (1, 2) or arr.size == 0 or rate <= 0 or not np.all(np.isfinite(arr)):
            raise AnalysisError("no usable audio samples")
        channels = 1 if arr.ndim == 1 else min(arr.shape[1], 2)
        return extract(pcm_blocks(arr, int(rate)), int(rate), channels)
    decoder = Decoder(str(source))
    return extract(decoder.blocks(), decoder.info.sample_rate, decoder.info.channels)


def _slice(feats: Features, start_s: float, end_s: float) -> Features:
    """The frame features of [start_s, end_s) as if that were the whole input."""
    o0, o1 = int(round(start_s * feats.onset_rate)), int(round(end_s * feats.onset_rate))
    t0, t1 = int(round(start_s * feats.texture_rate)), int(round(end_s * feats.texture_rate))
    return Features(
        sample_rate=feats.sample_rate,
        channels=feats.channels,
        n_samples=int(round((end_s - start_s) * feats.sample_rate)),
        broad=feats.broad[o0:o1],
        low=feats.low[o0:o1],
        high=feats.high[o0:o1],
        chroma=feats.chroma[t0:t1],
        timbre=feats.timbre[t0:t1],
        rms=feats.rms[t0:t1],
        loudness=feats.loudness,
    )


def _nearest(beats: list[float], period: float, t: float) -> float:
    """The beat of a constant grid (given by some of its beats) nearest to ``t``."""
    anchor = beats[0] if abs(beats[0] - t) < abs(beats[-1] - t) else beats[-1]
    return anchor + round((t - anchor) / period) * period


def _by_cues(feats: Features, cues: list[float], bpm_range: tuple[float, float] | None) -> dict[str, Any]:
    """Tracks and transitions from declared cues; each track's solo part analysed alone."""
    duration = feats.duration
    edges = [*cues, duration]
    tracks: list[dict[str, Any]] = []
    grids: list[tuple[list[float], float]] = []
    beats_all: list[float] = []
    downbeats_all: list[float] = []
    for i, (start, end) in enumerate(itertools.pairwise(edges)):
        solo = start + (FADE_SHARE * (end - start) if i > 0 else 0.0)
        try:
            part = analyze_features(_slice(feats, solo, end), bpm_range=bpm_range)
        except AnalysisError:  # a declared track too short or silent: no tempo, no beats
            part = {"beats": [], "downbeats": [], "bpm": 0.0, "key": ""}
        beats = [solo + float(b) for b in part["beats"]]  # type: ignore[attr-defined]
        bpm = float(part["bpm"])  # type: ignore[arg-type]
        grids.append((beats, 60.0 / bpm if bpm > 0 else 0.0))
        beats_all += beats
        downbeats_all += [solo + float(b) for b in part["downbeats"]]  # type: ignore[attr-defined]
        tracks.append({"start": round(start, 3), "end": round(end, 3), "bpm": bpm, "key": part["key"]})
    transitions = []
    for i in range(1, len(tracks)):
        start = edges[i]
        end = start + FADE_SHARE * (edges[i + 1] - start)
        centre = (start + end) / 2
        (out_beats, out_p), (in_beats, in_p) = grids[i - 1], grids[i]
        offset = 0.0
        if out_beats and in_beats and out_p > 0 and in_p > 0:
            b_out = _nearest(out_beats, out_p, centre)
            offset = (_nearest(in_beats, in_p, b_out) - b_out) * 1000.0
        key_out, key_in = blend_keys(feats, start, end, edges[i - 1], edges[i + 1])
        transitions.append(
            {
                "start": round(start, 3),
                "end": round(end, 3),
                "centre": round(centre, 3),
                "beat_offset_ms": round(offset, 1),
                "key_out": key_out,
                "key_in": key_in,
            }
        )
    return {
        "tracks": tracks,
        "transitions": transitions,
        "beats": sorted({round(b, 3) for b in beats_all}),
        "downbeats": sorted({round(b, 3) for b in downbeats_all}),
    }


def analyse(
    source: Source, *, bpm_range: tuple[float, float] | None = None, cues: list[float] | None = None
) -> dict[str, Any]:
    """dsp analysis of a file path or (samples, rate), with ``levels_db``, ``level_frames_db`` (and its
    ``level_frame_rate``) and ``clipped_seconds``
    (``[second, clipped samples]`` for each second that clipped) added.

    With ``cues`` (declared track starts, s) and fewer tracks found in the audio than
    declared, tracks and transitions come from the cues (``segmented_by: "tracklist"``).
    """
    name = "<pcm>" if isinstance(source, tuple | Features) else str(source)
    try:
        feats = _features(source)
        result: dict[str, Any] = dict(analyze_features(feats, bpm_range=bpm_range))
        result["segmented_by"] = "audio"
        declared = sorted(c for c in cues or [] if 0.0 <= c < feats.duration)
        if len(declared) >= 2 and len(result["tracks"]) < len(declared):
            result.update(_by_cues(feats, declared, bpm_range))
            result["segmented_by"] = "tracklist"
    except AnalysisError as exc:
        raise JudgeInputError(f"{name}: {exc}") from exc
    except (OSError, ValueError, MemoryError) as exc:
        raise JudgeInputError(f"{name}: cannot analyse: {exc}".splitlines()[0]) from exc
    for track in result["tracks"]:
        track.update(_recording(feats, float(track["start"]), float(track["end"])))
    result["levels_db"] = levels_db(feats)
    result["level_frames_db"] = level_frames_db(feats)
    result["level_frame_rate"] = float(feats.texture_rate)
    result["clipped_seconds"] = [list(pair) for pair in feats.loudness.clipped_seconds]
    return result
