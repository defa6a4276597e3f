"""The judge's view of a set: the dsp analysis plus a per-second level curve, in one decode.

Gain staging (level jumps between tracks, bumps during a blend) needs loudness over
time, which the dsp result does not carry; its feature pass already computes frame RMS,
so we read it there rather than decode the audio twice.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from djmesh.dsp.analysis import analyze_features
from djmesh.dsp.decode import Decoder
from djmesh.dsp.errors import AnalysisError
from djmesh.dsp.features import Features, extract, pcm_blocks

#: PCM in memory: (samples, sample rate)
Pcm = tuple[npt.NDArray[np.floating[Any]], int]
Source = str | Path | Pcm


class JudgeInputError(Exception):
    """A set cannot be judged (missing, not audio, too short, silent)."""


def levels_db(feats: Features) -> list[float]:
    """RMS level per whole second (dB re full scale, 0.1 dB steps, floor -90)."""
    per = int(round(feats.texture_rate))
    rms = np.asarray(feats.rms, dtype=np.float64)
    out = []
    for i in range(rms.size // per):
        power = math.fsum(float(v) * float(v) for v in rms[i * per : (i + 1) * per]) / per
        db = 10.0 * math.log10(power) if power > 1e-9 else -90.0
        out.append(round(max(-90.0, db), 1))
    return out


def _features(source: Source) -> Features:
    if isinstance(source, tuple):
        samples, rate = source
        arr = np.asarray(samples, dtype=np.float32)
        if arr.ndim not in (1, 2) or arr.size == 0 or rate <= 0 or not np.all(np.isfinite(arr)):
            raise AnalysisError("no usable audio samples")
        channels = 1 if arr.ndim == 1 else min(arr.shape[1], 2)
        return extract(pcm_blocks(arr, int(rate)), int(rate), channels)
    decoder = Decoder(str(source))
    return extract(decoder.blocks(), decoder.info.sample_rate, decoder.info.channels)


def analyse(source: Source, *, bpm_range: tuple[float, float] | None = None) -> dict[str, Any]:
    """dsp analysis of a file path or (samples, rate), with ``levels_db`` added."""
    name = "<pcm>" if isinstance(source, tuple) else str(source)
    try:
        feats = _features(source)
        result: dict[str, Any] = dict(analyze_features(feats, bpm_range=bpm_range))
    except AnalysisError as exc:
        raise JudgeInputError(f"{name}: {exc}") from exc
    except (OSError, ValueError, MemoryError) as exc:
        raise JudgeInputError(f"{name}: cannot analyse: {exc}".splitlines()[0]) from exc
    result["levels_db"] = levels_db(feats)
    return result
