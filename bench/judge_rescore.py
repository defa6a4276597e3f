"""Re-judge the pairs of a ``judge_eval.py --dump`` under changed features, in seconds instead of minutes.

    .venv/bin/python bench/judge_rescore.py pairs.json [--dead-zone energy_drop_db=1] [--hard-zone F=V]
        [--zero bar_error] [--flips] [--old-ties]

The dump holds every clean and flawed set's 16 features. A change to a feature that is a function of
that feature alone (a dead zone, a threshold, dropping it) is applied to the dump's rows *and* to the
committed training table (``judge/models/training.json``), whose labels are remade (``labels_for``) and
whose model is refitted and exported as ``build_model`` would; both sides of every pair are then scored
by that ONNX model in onnxruntime, and the winner picked as ``judge_sets`` does. The "shipped" column
scores the same rows with the shipped model, so it reproduces ``judge_eval``'s pairs exactly.

* ``--dead-zone F=V``: F becomes max(0, F - V) (continuous: noise above V still moves it);
* ``--hard-zone F=V``: F under V counts as 0;
* ``--zero F``: F is always 0 (its criterion is constant: a bound, not a proposal).

``--old-ties`` judges both columns with the tie rule before issue 16's eighth round (equal totals went to the
higher technical, then rules, then "a"), to measure what ``winner_of``'s finer tie-break changes.

Only the mildest severities (the cells with more than three pairs) are reported. ``--flips`` lists each
pair whose outcome changed, with the totals either way: a flip where both sides' criteria moved alike
and only the rounding of the totals (0.01) changed is noise, not a gain.
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
import tempfile
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from judge_eval import DEFECTS, _rules

from djmesh.judge.build_model import TABLE_PATH, fit, labels_for, to_onnx
from djmesh.judge.features import FEATURES
from djmesh.judge.model import AGGREGATES, JudgeModel
from djmesh.judge.scoring import _crowd_weight, pick_winner
from djmesh.protocol.battle import CRITERIA

Transform = Callable[[list[float]], list[float]]
Picker = Callable[[dict[str, float], dict[str, float]], str]


def old_ties(a: dict[str, float], b: dict[str, float]) -> str:
    """The winner as picked before the eighth round: total, then technical, then rules, then "a"."""
    for key in ("total", "technical", "rules"):
        if a[key] != b[key]:
            return "a" if a[key] > b[key] else "b"
    return "a"


def _transform(dead: list[str], hard: list[str], zero: list[str]) -> Transform:
    steps: list[tuple[int, Callable[[float], float]]] = []
    for spec in dead:
        name, value = spec.split("=")
        steps.append((FEATURES.index(name), lambda v, d=float(value): max(0.0, v - d)))
    for spec in hard:
        name, value = spec.split("=")
        steps.append((FEATURES.index(name), lambda v, d=float(value): v if v >= d else 0.0))
    for name in zero:
        steps.append((FEATURES.index(name), lambda v: 0.0))

    def apply(row: list[float]) -> list[float]:
        out = list(row)
        for j, fn in steps:
            out[j] = round(fn(out[j]), 3)
        return out

    return apply


def refit(transform: Transform) -> JudgeModel:
    """The model ``build_model`` would make if the training table's features were transformed alike."""
    table = copy.deepcopy(json.loads(TABLE_PATH.read_text(encoding="utf-8")))
    for row in table["rows"]:
        row["features"] = transform(list(row["features"]))
        row["labels"] = labels_for(
            row["case"]["defects"], dict(zip(FEATURES, row["features"], strict=True)), row["case"]
        )
    path = Path(tempfile.mkdtemp()) / "judge.onnx"
    path.write_bytes(to_onnx(fit(table)))
    return JudgeModel(path)


def judge(
    dump: list[dict[str, Any]], model: JudgeModel, transform: Transform, pick: Picker = pick_winner
) -> list[tuple[bool, float, float]]:
    """Per pair: the clean set wins both orders, and the two totals."""
    rows = []
    for pair in dump:
        for side in ("clean", "flawed"):
            rows.append(transform([float(pair[side]["features"][f]) for f in FEATURES]))
    scored = model.run(rows)
    out = []
    for i, pair in enumerate(dump):
        w = _crowd_weight(_rules(float(pair["bpm"])))
        sides = []
        for s in scored[2 * i : 2 * i + 2]:
            values = {k: s[k] for k in (*CRITERIA, "technical", "musical")}
            values["total"] = round((1.0 - w) * s[AGGREGATES[2]] + w * 5.0, 2)
            sides.append(values)
        a, b = sides
        out.append((pick(a, b) == "a" and pick(b, a) == "b", a["total"], b["total"]))
    return out


def _cells(
    dump: list[dict[str, Any]], results: list[tuple[bool, float, float]]
) -> dict[tuple[str, str], str]:
    cells: dict[tuple[str, str, float], list[bool]] = defaultdict(list)
    for pair, (won, _, _) in zip(dump, results, strict=True):
        cells[(pair["source"], pair["defect"], pair["severity"])].append(won)
    return {(s, d): f"{sum(v)}/{len(v)}" for (s, d, _), v in sorted(cells.items()) if len(v) > 3}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dump")
    parser.add_argument("--dead-zone", action="append", default=[], metavar="FEATURE=V")
    parser.add_argument("--hard-zone", action="append", default=[], metavar="FEATURE=V")
    parser.add_argument("--zero", action="append", default=[], metavar="FEATURE")
    parser.add_argument("--flips", action="store_true", help="list the pairs whose outcome changed")
    parser.add_argument(
        "--old-ties", action="store_true", help="break equal totals as before the eighth round"
    )
    args = parser.parse_args()
    dump = json.loads(Path(args.dump).read_text(encoding="utf-8"))
    same: Transform = list
    pick: Picker = old_ties if args.old_ties else pick_winner
    shipped = judge(dump, JudgeModel(), same, pick)
    transform = _transform(args.dead_zone, args.hard_zone, args.zero)
    changed = judge(dump, refit(transform), transform, pick)
    before, after = _cells(dump, shipped), _cells(dump, changed)
    print("| source | defect | shipped | changed |\n|---|---|---|---|")
    for key in before:
        print(f"| {key[0]} | {key[1]} | {before[key]} | {after[key]} |")
    mild = [p["severity"] == DEFECTS[p["defect"]][2][0] for p in dump]
    for name, results in (("shipped", shipped), ("changed", changed)):
        lost = [r for r, m in zip(results, mild, strict=True) if m and not r[0]]
        ties = sum(1 for r in lost if r[1] == r[2])
        print(
            f"\n{name}: {len(lost)} pairs lost at the mildest severities, {ties} of them with equal totals (0.01)"
        )
    if args.flips:
        for pair, old, new in zip(dump, shipped, changed, strict=True):
            if old[0] != new[0]:
                print(
                    f"  {pair['source']} {pair['defect']} {pair['bpm']:g} BPM set {pair['set']}: "
                    f"{'won' if old[0] else 'lost'} -> {'won' if new[0] else 'lost'}, "
                    f"totals {old[1]:.2f}/{old[2]:.2f} -> {new[1]:.2f}/{new[2]:.2f}"
                )


if __name__ == "__main__":
    main()
