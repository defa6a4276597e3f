"""Build the judge model: generate defect-labelled sets, fit, export ONNX bytes.

    python -m djmesh.judge.build_model              # fit judge/models/training.json -> judge.onnx
    python -m djmesh.judge.build_model --regenerate # first remake training.json from the loops

The training table is the measured features of mixes built from lmms-common loops with
defects we chose (``djmesh.judge.synth``), and labels that follow from those defects.
The fit is plain Python float math in a fixed order (no BLAS), and weights are rounded,
so the same table gives the same ONNX bytes on any machine. See judge/MODEL.md.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import random
import sys
from collections.abc import Collection, Sequence
from pathlib import Path
from typing import Any

from djmesh.dsp.onnx_model import serialized_model
from djmesh.judge.features import FEATURES, JudgeRules, set_features
from djmesh.judge.model import AGGREGATES, MODEL_PATH
from djmesh.protocol.battle import CRITERIA

TABLE_PATH = MODEL_PATH.parent / "training.json"
KNOT_QUANTILES = (0.25, 0.5, 0.75)
ITERATIONS = 400

#: which features each criterion may look at (the rest of its weights stay zero)
INPUTS: dict[str, tuple[str, ...]] = {
    "beatmatch": ("phase_error", "tempo_jump_pct"),
    "tempo": ("tempo_spread_pct", "tempo_jump_pct"),
    "transitions": ("fade_shortness", "fade_bump_db", "max_jump_db"),
    "phrasing": ("bar_error",),
    "gain": ("track_jump_db", "max_jump_db", "clipped_permille", "over_peak_db"),
    "harmonic": ("camelot_distance",),
    "energy": ("energy_drop_db",),
    "variety": ("repetition",),
    "rules": ("track_count_error", "out_of_range", "tracklist_mismatch"),
}
#: aggregates as weights over criteria; "judged" is what the crowd share is mixed into
AGGREGATE_WEIGHTS: dict[str, dict[str, float]] = {
    "technical": {c: 0.2 for c in ("beatmatch", "tempo", "transitions", "phrasing", "gain")},
    "musical": {c: 1 / 3 for c in ("harmonic", "energy", "variety")},
    "judged": {
        **{c: 0.5 * 0.2 for c in ("beatmatch", "tempo", "transitions", "phrasing", "gain")},
        **{c: 0.3 / 3 for c in ("harmonic", "energy", "variety")},
        "rules": 0.2,
    },
}


# ---- training data -------------------------------------------------------------------------


def _clamp(x: float) -> float:
    return 10.0 * min(1.0, max(0.0, x))


def labels_for(
    defects: dict[str, float], measured: dict[str, float], spec: dict[str, Any]
) -> dict[str, float]:
    """Ground-truth scores. Technical ones follow from the defects we built in; musical ones
    have no construction truth, so they are a rubric on what was measured (see MODEL.md)."""
    phase, spread = defects["phase_ms"], defects["tempo_spread"]
    shift = int(defects["bar_shift_beats"]) % 4
    n_tracks, declared = int(spec["tracks"]), int(spec["required_tracks"])
    return {
        "beatmatch": _clamp((1 - phase / 125.0) * (1 - spread / 0.04)),
        "tempo": _clamp(1 - spread / 0.06),
        "transitions": _clamp(
            (0.4 + 0.6 * min(1.0, defects["fade_bars"] / 8.0)) * (1 - defects["gain_jump_db"] / 15.0)
        ),
        "phrasing": _clamp(1 - (0.0, 0.5, 0.8, 0.5)[shift]),
        "gain": _clamp(1 - defects["gain_jump_db"] / 12.0 - defects["clip_db"] / 15.0),
        "harmonic": _clamp(1 - measured["camelot_distance"] / 6.0),
        "energy": _clamp(1 - measured["energy_drop_db"] / 12.0),
        "variety": _clamp(1 - measured["repetition"]),
        "rules": _clamp(
            (1 - 0.5 * abs(n_tracks - declared))
            * (0.0 if spec["out_of_range"] else 1.0)
            * (0.5 if spec["bad_cues"] else 1.0)
        ),
    }


def _random_case(rng: random.Random, index: int) -> dict[str, Any]:
    on = [rng.random() < 0.45 for _ in range(6)]
    defects = {
        "tempo_spread": round(rng.uniform(0.01, 0.07), 3) if on[0] else 0.0,
        "phase_ms": round(rng.uniform(10.0, 200.0), 1) if on[1] else 0.0,
        "bar_shift_beats": rng.choice((1, 2, 3)) if on[2] else 0,
        "gain_jump_db": round(rng.uniform(1.0, 12.0), 1) if on[3] else 0.0,
        "clip_db": round(rng.uniform(2.0, 12.0), 1) if on[4] else 0.0,
        "fade_bars": rng.choice((1, 2, 4)) if on[5] else 8,
    }
    out_of_range = rng.random() < 0.12
    bpm = rng.choice((100.0, 145.0)) if out_of_range else round(rng.uniform(118.0, 132.0), 1)
    tracks = rng.choice((5, 6, 6, 6, 6, 7))
    return {
        "defects": defects,
        "bpm": bpm,
        "tracks": tracks,
        "required_tracks": 6,
        "first_track": index % 8,
        "out_of_range": out_of_range,
        "bad_cues": rng.random() < 0.12,
        "seed": index,
    }


def regenerate_table(count: int = 96, seed: int = 6, only: Collection[int] | None = None) -> dict[str, Any]:
    """Build ``count`` sets from the loops, analyse them, record features and labels. ``only``: the row
    numbers to build (the others are drawn, so each row is the one the whole table holds, but skipped)."""
    from djmesh.judge.analysis import analyse
    from djmesh.judge.synth import Defects, SetSpec, build_set

    rng = random.Random(seed)
    rows = []
    for i in range(count):
        case = _random_case(rng, i)
        if only is not None and i not in only:
            continue
        d = case["defects"]
        spec = SetSpec(
            bpm=case["bpm"],
            tracks=case["tracks"],
            first_track=case["first_track"],
            defects=Defects(**d),
            seed=case["seed"],
        )
        built = build_set(spec)
        cues = list(built.cues)
        if case["bad_cues"]:
            cues = [c + (30.0 if k == len(cues) // 2 else 0.0) for k, c in enumerate(cues)]
        analysis = analyse((built.samples, built.sample_rate))
        feats = set_features(analysis, JudgeRules(), cues)
        measured = feats.as_dict()
        rows.append({"case": case, "features": list(feats.values), "labels": labels_for(d, measured, case)})
        print(f"  set {i + 1}/{count}", file=sys.stderr, end="\r")
    print(file=sys.stderr)
    return {"features": list(FEATURES), "criteria": list(CRITERIA), "seed": seed, "rows": rows}


# ---- fitting (pure Python, fixed order) -----------------------------------------------------


def _quantile(values: Sequence[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(q * (len(s) - 1) + 0.5))]


def knots_for(column: Sequence[float]) -> list[float]:
    """A linear unit (knot 0) and hinges at quantiles of the non-zero values seen in training."""
    nonzero = [v for v in column if v > 0]
    knots = [0.0]
    for q in KNOT_QUANTILES:
        k = round(_quantile(nonzero, q), 3) if nonzero else 0.0
        if k > knots[-1]:
            knots.append(k)
    return knots


def fit_monotone(units: list[list[float]], target: list[float]) -> tuple[float, list[float]]:
    """score = b - sum(w * unit) with w >= 0, least squares by cyclic coordinate descent.

    Non-negative weights on hinge units of badness features make each criterion
    non-increasing in every defect: a worse mix cannot score higher.
    """
    n, m = len(target), len(units)
    w = [0.0] * m
    b = math.fsum(target) / n
    residual = [t - b for t in target]  # target - prediction
    norms = [math.fsum(u * u for u in col) for col in units]
    for _ in range(ITERATIONS):
        shift = math.fsum(residual) / n
        b += shift
        residual = [r - shift for r in residual]
        for j in range(m):
            if norms[j] == 0:
                continue
            col = units[j]
            # prediction = b - sum(w*u): d(loss)/dw_j; optimal step for w_j alone
            grad = math.fsum(r * u for r, u in zip(residual, col, strict=True))
            new = max(0.0, w[j] - grad / norms[j])
            delta = new - w[j]
            if delta != 0.0:
                w[j] = new
                residual = [r + delta * u for r, u in zip(residual, col, strict=True)]
    return round(b, 4), [round(v, 4) for v in w]


def fit(table: dict[str, Any]) -> dict[str, Any]:
    """Knots per feature and, per criterion, a bias and non-negative hinge weights."""
    rows = table["rows"]
    columns = [[float(r["features"][j]) for r in rows] for j in range(len(FEATURES))]
    knots = [knots_for(col) for col in columns]
    params: dict[str, Any] = {"knots": knots, "criteria": {}}
    for criterion in CRITERIA:
        units, index = [], []
        for name in INPUTS[criterion]:
            j = FEATURES.index(name)
            for k, knot in enumerate(knots[j]):
                units.append([max(0.0, v - knot) for v in columns[j]])
                index.append((j, k))
        target = [float(r["labels"][criterion]) for r in rows]
        bias, weights = fit_monotone(units, target)
        params["criteria"][criterion] = {
            "bias": bias,
            "weights": [[j, k, w] for (j, k), w in zip(index, weights, strict=True)],
        }
    return params


# ---- ONNX export ----------------------------------------------------------------------------


def to_onnx(params: dict[str, Any]) -> bytes:
    """features [N,16] -> hinge units -> criteria [N,9] clipped to 0..10 -> aggregates [N,3]."""
    import numpy as np
    from onnx import TensorProto, helper, numpy_helper

    knots: list[list[float]] = params["knots"]
    slots = [(j, k) for j in range(len(FEATURES)) for k in range(len(knots[j]))]
    hidden = len(slots)
    expand = np.zeros((len(FEATURES), hidden), np.float32)
    knot_row = np.zeros((hidden,), np.float32)
    for h, (j, k) in enumerate(slots):
        expand[j, h] = 1.0
        knot_row[h] = knots[j][k]
    weights = np.zeros((hidden, len(CRITERIA)), np.float32)
    bias = np.zeros((len(CRITERIA),), np.float32)
    for c, criterion in enumerate(CRITERIA):
        p = params["criteria"][criterion]
        bias[c] = p["bias"]
        for j, k, w in p["weights"]:
            weights[slots.index((j, k)), c] = w
    agg = np.zeros((len(CRITERIA), len(AGGREGATES)), np.float32)
    for a, name in enumerate(AGGREGATES):
        for criterion, w in AGGREGATE_WEIGHTS[name].items():
            agg[CRITERIA.index(criterion), a] = w
    inits = [
        numpy_helper.from_array(expand, "expand"),
        numpy_helper.from_array(knot_row, "knots"),
        numpy_helper.from_array(weights, "weights"),
        numpy_helper.from_array(bias, "bias"),
        numpy_helper.from_array(agg, "aggregate"),
        numpy_helper.from_array(np.array(0.0, np.float32), "lo"),
        numpy_helper.from_array(np.array(10.0, np.float32), "hi"),
    ]
    nodes = [
        helper.make_node("MatMul", ["features", "expand"], ["spread"]),
        helper.make_node("Sub", ["spread", "knots"], ["shifted"]),
        helper.make_node("Relu", ["shifted"], ["units"]),
        helper.make_node("MatMul", ["units", "weights"], ["penalty"]),
        helper.make_node("Sub", ["bias", "penalty"], ["raw"]),
        helper.make_node("Clip", ["raw", "lo", "hi"], ["criteria"]),
        helper.make_node("MatMul", ["criteria", "aggregate"], ["aggregates"]),
    ]
    graph = helper.make_graph(
        nodes,
        "djmesh_judge",
        [helper.make_tensor_value_info("features", TensorProto.FLOAT, ["N", len(FEATURES)])],
        [
            helper.make_tensor_value_info("criteria", TensorProto.FLOAT, ["N", len(CRITERIA)]),
            helper.make_tensor_value_info("aggregates", TensorProto.FLOAT, ["N", len(AGGREGATES)]),
        ],
        inits,
    )
    graph.doc_string = "djmesh judge: features " + ",".join(FEATURES) + "; criteria " + ",".join(CRITERIA)
    return serialized_model(graph, "djmesh.judge.build_model")


def build_from_table(table_path: Path = TABLE_PATH) -> bytes:
    table = json.loads(table_path.read_text(encoding="utf-8"))
    return to_onnx(fit(table))


def evaluate(count: int = 48, seed: int = 1006) -> dict[str, Any]:
    """Held-out check on freshly generated sets: per-criterion R2 and RMSE, and how often the
    model orders two sets the way their labels do (pairs whose labels differ by > 1 point)."""
    from djmesh.judge.model import JudgeModel

    table = regenerate_table(count, seed)
    rows = table["rows"]
    predicted = JudgeModel().run([r["features"] for r in rows])
    report: dict[str, Any] = {"sets": count, "criteria": {}}
    for c in CRITERIA:
        y = [float(r["labels"][c]) for r in rows]
        yh = [p[c] for p in predicted]
        mean = math.fsum(y) / len(y)
        ss = math.fsum((v - mean) ** 2 for v in y)
        se = math.fsum((a - b) ** 2 for a, b in zip(y, yh, strict=True))
        report["criteria"][c] = {
            "r2": round(1 - se / ss, 3) if ss else None,
            "rmse": round(math.sqrt(se / len(y)), 2),
        }
    weights = AGGREGATE_WEIGHTS["judged"]
    truth = [math.fsum(w * r["labels"][c] for c, w in weights.items()) for r in rows]
    agree = total = 0
    for i in range(len(rows)):
        for j in range(i + 1, len(rows)):
            if abs(truth[i] - truth[j]) > 1.0:
                total += 1
                agree += (truth[i] > truth[j]) == (predicted[i]["judged"] > predicted[j]["judged"])
    report["pairwise_order"] = {"pairs": total, "agree": round(agree / total, 3) if total else None}
    return report


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--regenerate", action="store_true", help="remake the training table from the loops")
    parser.add_argument("--count", type=int, default=96)
    parser.add_argument("--out", type=Path, default=MODEL_PATH)
    parser.add_argument("--evaluate", action="store_true", help="score freshly generated held-out sets")
    args = parser.parse_args(argv)
    if args.evaluate:
        print(json.dumps(evaluate(), indent=1))
        return 0
    if args.regenerate:
        table = regenerate_table(args.count)
        TABLE_PATH.parent.mkdir(parents=True, exist_ok=True)
        TABLE_PATH.write_text(json.dumps(table, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    data = build_from_table()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_bytes(data)
    print(f"{args.out}: {len(data)} bytes, sha256 {hashlib.sha256(data).hexdigest()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
