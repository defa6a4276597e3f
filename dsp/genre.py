"""Genre probabilities for the battle genres from a small pinned model.

What tells dance genres apart is mostly tempo and where the drums fall within the beat, so the
model reads beat-synchronous onset patterns (kick, all bands, hats: how much lands on the beat,
the eighth and the sixteenths, and whether the pattern repeats every beat or every two), the tempo,
the coarse spectral shape and how tonal the audio is. The row is computed from the analysis' own
(rounded) beats, so anyone can recompute it from the same audio, and each value is rounded to
1e-3 before it reaches the model.

The model (``dsp/models/genre.onnx``) is a softmax regression pinned by SHA-256, like the judge's
model; probabilities are rounded to 1e-3. It is rebuilt by ``python -m djmesh.dsp.genre_model``.
"""

from __future__ import annotations

import hashlib
import math
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from djmesh.dsp.onnx_model import single_threaded_session
from djmesh.protocol.battle import GENRES as BATTLE_GENRES

from .errors import AnalysisError
from .features import Features

F64 = npt.NDArray[np.float64]

#: the battle genres, in the model's output order
GENRES: tuple[str, ...] = tuple(sorted(BATTLE_GENRES))
MODEL_PATH = Path(__file__).resolve().parent / "models" / "genre.onnx"
MODEL_SHA256 = "f0389a540b26c303261f6a1304d9ba011b493354a7518eab834f9e140f18d2e5"
#: tempo bumps (BPM) the model can combine into a genre's range
TEMPO_CENTRES = (70.0, 85.0, 100.0, 115.0, 124.0, 132.0, 140.0, 150.0, 165.0, 175.0)
_TEMPO_WIDTH = 0.07  # octaves
#: positions within a beat, in eighths of it
_POSITIONS = 8
_BANDS = ("low", "broad", "high")

FEATURE_NAMES: tuple[str, ...] = (
    "log2_tempo",
    *(f"tempo_{c:g}" for c in TEMPO_CENTRES),
    *(f"{band}_{where}" for band in _BANDS for where in ("beat", "eighth", "sixteenths", "between")),
    *(f"{band}_repeat_{lag}" for band in ("low", "broad") for lag in (1, 2, 4)),
    "high_rate",
)


def _envelope_at(env: F64, positions: F64) -> F64:
    """The envelope's peak within +-2 frames of each (fractional) frame position."""
    idx = np.round(positions).astype(np.intp)
    out = np.zeros(idx.size)
    for d in (-2, -1, 0, 1, 2):
        j = np.clip(idx + d, 0, env.size - 1)
        np.maximum(out, env[j], out=out)
    return out


def _beat_patterns(env: F64, beats: F64, rate: float) -> F64:
    """(beats, _POSITIONS): the envelope at eighths of each regular beat interval."""
    if beats.size < 3:
        return np.zeros((0, _POSITIONS))
    d = np.diff(beats)
    median = float(np.median(d))
    keep = np.abs(d - median) <= 0.2 * median
    starts, widths = beats[:-1][keep], d[keep]
    pos = (starts[:, None] + widths[:, None] * (np.arange(_POSITIONS)[None, :] / _POSITIONS)) * rate
    return _envelope_at(env, pos.reshape(-1)).reshape(-1, _POSITIONS)


def _repeat(patterns: F64, lag: int) -> float:
    """Mean correlation between the pattern of a beat and of the beat ``lag`` later."""
    if patterns.shape[0] <= lag:
        return 0.0
    a, b = patterns[:-lag], patterns[lag:]
    a = a - a.mean(axis=1, keepdims=True)
    b = b - b.mean(axis=1, keepdims=True)
    den = np.sqrt(np.sum(a * a, axis=1) * np.sum(b * b, axis=1))
    ok = den > 1e-12
    return float(np.mean(np.sum(a * b, axis=1)[ok] / den[ok])) if np.any(ok) else 0.0


def genre_row(feats: Features, beats: Sequence[float], bpm: float) -> tuple[float, ...]:
    """The model's input for one analysed input, rounded to 1e-3."""
    row: list[float] = []
    b = max(float(bpm), 1.0)
    row.append(math.log2(b / 120.0))
    row += [math.exp(-0.5 * (math.log2(b / c) / _TEMPO_WIDTH) ** 2) for c in TEMPO_CENTRES]
    beat_times = np.asarray(sorted(float(t) for t in beats), dtype=np.float64)
    patterns = {}
    for band in _BANDS:
        env = np.asarray(getattr(feats, band), dtype=np.float64)
        scale = float(np.mean(env)) if env.size else 0.0
        env = env / scale if scale > 0 else env
        pat = _beat_patterns(env, beat_times, feats.onset_rate)
        patterns[band] = pat
        mean = pat.mean(axis=0) if pat.shape[0] else np.zeros(_POSITIONS)
        total = float(np.sum(mean)) or 1.0
        share = mean / total
        row += [float(share[0]), float(share[4]), float(share[2] + share[6]), float(share[1::2].sum())]
    for band in ("low", "broad"):
        row += [_repeat(patterns[band], lag) for lag in (1, 2, 4)]
    high, low = patterns["high"], patterns["low"]
    row.append(
        float(np.mean(high)) / (float(np.mean(low)) + float(np.mean(high)) + 1e-9) if high.size else 0.0
    )
    return tuple(_q(v) for v in row)


def _q(value: float) -> float:
    if not math.isfinite(value):
        return 0.0
    q = round(value, 3)
    return 0.0 if q == 0 else q


class GenreModelError(AnalysisError):
    """The genre model file is missing, altered or cannot be run."""


class GenreModel:
    """One onnxruntime session on the pinned file, single-threaded."""

    def __init__(self, path: Path = MODEL_PATH, sha256: str | None = None) -> None:
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise GenreModelError(f"genre model missing: {path}: {exc.strerror}") from exc
        digest = hashlib.sha256(data).hexdigest()
        expected = sha256 if sha256 is not None else (MODEL_SHA256 if path == MODEL_PATH else digest)
        if digest != expected:
            raise GenreModelError(f"genre model {path} has SHA-256 {digest}, expected {expected}")
        self.sha256 = digest
        try:
            self._session = single_threaded_session(data)
        except Exception as exc:  # onnxruntime raises its own exception types
            raise GenreModelError(f"genre model cannot be loaded: {exc}".splitlines()[0]) from exc
        self._lock = threading.Lock()

    def probabilities(self, rows: Sequence[Sequence[float]]) -> list[dict[str, float]]:
        x = np.asarray(rows, dtype=np.float32).reshape(len(rows), len(FEATURE_NAMES))
        with self._lock:
            (probs,) = self._session.run(["probabilities"], {"features": x})
        return [{g: _q(float(p)) for g, p in zip(GENRES, r.tolist(), strict=True)} for r in probs]


_shared: GenreModel | None = None
_shared_lock = threading.Lock()


def shared_model() -> GenreModel:
    global _shared
    with _shared_lock:
        if _shared is None:
            _shared = GenreModel()
        return _shared


def genre_probabilities(feats: Features, beats: Sequence[float], bpm: float) -> dict[str, float]:
    """``{genre: probability}`` over the battle genres (sorted by name), each rounded to 1e-3."""
    return shared_model().probabilities([genre_row(feats, beats, bpm)])[0]


def top_genre(probabilities: dict[str, Any]) -> tuple[str, float]:
    """The most likely genre (ties: the first by name)."""
    best = max(sorted(probabilities), key=lambda g: float(probabilities[g]))
    return best, float(probabilities[best])
