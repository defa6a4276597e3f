"""The shipped scoring model: an ONNX file pinned by SHA-256, run in onnxruntime.

Battle rules name the model by this hash (inside the judge's pin, ``djmesh.judge.pin``), so every
committee member must run exactly these bytes; a file that does not match is refused rather than
silently used.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from djmesh.dsp.onnx_model import single_threaded_session
from djmesh.judge.features import FEATURES
from djmesh.judge.pin import MODEL_SHA256
from djmesh.protocol.battle import CRITERIA

MODEL_PATH = Path(__file__).resolve().parent / "models" / "judge.onnx"

#: model outputs, in order: the 9 criteria a verdict carries (0..10), then 3 aggregates
AGGREGATES: tuple[str, ...] = ("technical", "musical", "judged")


class ModelError(Exception):
    """The model file is missing, altered or cannot be run."""


def model_bytes(path: Path = MODEL_PATH) -> bytes:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ModelError(f"judge model missing: {path}: {exc.strerror}") from exc
    digest = hashlib.sha256(data).hexdigest()
    if path == MODEL_PATH and digest != MODEL_SHA256:
        raise ModelError(f"judge model {path} has SHA-256 {digest}, expected {MODEL_SHA256}")
    return data


class JudgeModel:
    """One onnxruntime session, single-threaded (results do not depend on threads, but cores are shared)."""

    def __init__(self, path: Path = MODEL_PATH) -> None:
        data = model_bytes(path)
        self.sha256 = hashlib.sha256(data).hexdigest()
        try:
            self._session = single_threaded_session(data)
        except Exception as exc:  # onnxruntime raises its own exception types
            raise ModelError(f"judge model cannot be loaded: {exc}".splitlines()[0]) from exc
        self._lock = threading.Lock()

    def run(self, rows: Sequence[Sequence[float]]) -> list[dict[str, float]]:
        """Scores (0..10, rounded to 0.01) for each feature row."""
        x = np.asarray(rows, dtype=np.float32).reshape(len(rows), len(FEATURES))
        with self._lock:
            criteria, aggregates = self._session.run(["criteria", "aggregates"], {"features": x})
        out = []
        for c_row, a_row in zip(criteria, aggregates, strict=True):
            values = [*c_row.tolist(), *a_row.tolist()]
            out.append({name: _q(v) for name, v in zip(CRITERIA + AGGREGATES, values, strict=True)})
        return out


def _q(value: float) -> float:
    """Round to 0.01: last-bit float differences between CPUs cannot change a verdict."""
    q = round(float(value), 2)
    return 0.0 if q == 0 else q


_shared: JudgeModel | None = None
_shared_lock = threading.Lock()


def shared_model() -> JudgeModel:
    global _shared
    with _shared_lock:
        if _shared is None:
            _shared = JudgeModel()
        return _shared
