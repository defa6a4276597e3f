"""Fit the genre model from its training table and write the pinned ONNX file.

    python -m djmesh.dsp.genre_model    # dsp/models/genre_training.json -> dsp/models/genre.onnx

The table (rows of ``genre_row`` with their genre and sample source) is made by
``bench/genre_eval.py --regenerate`` from generated tracks played with Debian sample packs. Only
rows from ``TRAIN_SOURCES`` are fitted; the other sources' rows stay in the table as the held-out
test. The fit is a softmax regression on standardised features (L2 penalty, plain gradient
descent in float64 for a fixed number of steps), the standardisation folded into the weights and
every weight rounded to 1e-4, so the same table gives the same bytes.
"""

from __future__ import annotations

import argparse
import hashlib
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from .genre import FEATURE_NAMES, GENRES, MODEL_PATH
from .onnx_model import serialized_model

F64 = npt.NDArray[np.float64]

TABLE_PATH = MODEL_PATH.parent / "genre_training.json"
TRAIN_SOURCES: tuple[str, ...] = ("lmms", "hydrogen")
L2 = 0.01
STEPS = 3000
LEARNING_RATE = 0.5


def _softmax(z: F64) -> F64:
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return np.asarray(e / e.sum(axis=1, keepdims=True), dtype=np.float64)


def fit(rows: Sequence[dict[str, Any]], sources: Sequence[str] = TRAIN_SOURCES) -> dict[str, Any]:
    """Weights [features, genres] and bias [genres] over raw (unstandardised) features."""
    train = [r for r in rows if r["source"] in sources]
    if not train:
        raise ValueError(f"no training rows from {', '.join(sources)}")
    x = np.asarray([r["features"] for r in train], dtype=np.float64)
    y = np.zeros((len(train), len(GENRES)))
    for i, r in enumerate(train):
        y[i, GENRES.index(r["genre"])] = 1.0
    mean = x.mean(axis=0)
    std = x.std(axis=0)
    std[std < 1e-6] = 1.0
    z = (x - mean) / std
    w = np.zeros((z.shape[1], len(GENRES)))
    b = np.zeros(len(GENRES))
    n = float(len(train))
    for _ in range(STEPS):
        # einsum without BLAS: the same sums in the same order whatever the thread count
        p = _softmax(np.einsum("ij,jk->ik", z, w, optimize=False) + b)
        g = p - y
        w -= LEARNING_RATE * (np.einsum("ij,ik->jk", z, g, optimize=False) / n + L2 * w)
        b -= LEARNING_RATE * g.mean(axis=0)
    weights = w / std[:, None]
    bias = b - np.einsum("j,jk->k", mean / std, w, optimize=False)
    return {
        "weights": [[round(float(v), 4) for v in row] for row in weights],
        "bias": [round(float(v), 4) for v in bias],
        "sources": list(sources),
    }


def predict(params: dict[str, Any], rows: Sequence[Sequence[float]]) -> F64:
    """The fitted model in numpy (for evaluating folds without writing an ONNX file)."""
    x = np.asarray(rows, dtype=np.float64)
    return _softmax(x @ np.asarray(params["weights"]) + np.asarray(params["bias"]))


def to_onnx(params: dict[str, Any]) -> bytes:
    """features [N, F] -> MatMul -> Add -> Softmax -> probabilities [N, genres]."""
    from onnx import TensorProto, helper, numpy_helper

    inits = [
        numpy_helper.from_array(np.asarray(params["weights"], np.float32), "weights"),
        numpy_helper.from_array(np.asarray(params["bias"], np.float32), "bias"),
    ]
    nodes = [
        helper.make_node("MatMul", ["features", "weights"], ["scaled"]),
        helper.make_node("Add", ["scaled", "bias"], ["logits"]),
        helper.make_node("Softmax", ["logits"], ["probabilities"], axis=-1),
    ]
    graph = helper.make_graph(
        nodes,
        "djmesh_genre",
        [helper.make_tensor_value_info("features", TensorProto.FLOAT, ["N", len(FEATURE_NAMES)])],
        [helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["N", len(GENRES)])],
        inits,
    )
    graph.doc_string = "djmesh genre: features " + ",".join(FEATURE_NAMES) + "; genres " + ",".join(GENRES)
    return serialized_model(graph, "djmesh.dsp.genre_model")


def load_table(path: Path = TABLE_PATH) -> list[dict[str, Any]]:
    table = json.loads(path.read_text(encoding="utf-8"))
    if table.get("features") != list(FEATURE_NAMES) or table.get("genres") != list(GENRES):
        raise ValueError(f"{path} was made for other features or genres: regenerate it")
    return list(table["rows"])


def build_from_table(path: Path = TABLE_PATH) -> bytes:
    return to_onnx(fit(load_table(path)))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=MODEL_PATH)
    args = parser.parse_args(argv)
    data = build_from_table()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_bytes(data)
    print(f"{args.out}: {len(data)} bytes, sha256 {hashlib.sha256(data).hexdigest()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
