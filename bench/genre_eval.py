"""The genre model's training table, and its confusion matrix on sample sources it never saw.

    .venv/bin/python bench/genre_eval.py --regenerate [--per-cell 12]   # remake the table (~2 min)
    .venv/bin/python -m djmesh.dsp.genre_model                           # fit it -> genre.onnx
    .venv/bin/python bench/genre_eval.py [--sets 2]                      # held-out report

Tracks come from ``bench/genre_material.py`` (six genres, three Debian sample sources). The shipped
model is fitted on ``TRAIN_SOURCES`` only; the report gives

* the confusion matrix of the shipped model (run through onnxruntime, as ``analyze`` does) on the
  held-out source's tracks;
* leave-one-source-out: for each source, a model fitted on the other two and tested on it;
* with ``--sets N``: N six-track mixes per genre from the held-out source (``djmesh.judge.synth``
  crossfades), read as a whole set as the judge reads it, and how often the judge's genre flag
  fires on a set of the battle's own genre (false flags) and on one of another genre.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np
from genre_material import GENRES as MATERIAL_GENRES
from genre_material import KITS, genre_track

from djmesh.dsp.analysis import analyze_features
from djmesh.dsp.features import extract, pcm_blocks
from djmesh.dsp.genre import FEATURE_NAMES, GENRES, GenreModel, genre_row
from djmesh.dsp.genre_model import TABLE_PATH, TRAIN_SOURCES, fit, load_table, predict

RATE = 22050


def _row(samples: Any) -> tuple[tuple[float, ...], dict[str, Any]]:
    feats = extract(pcm_blocks(np.asarray(samples, np.float32), RATE), RATE, 1)
    result = analyze_features(feats)
    return genre_row(feats, result["beats"], float(result["bpm"])), result  # type: ignore[arg-type]


def regenerate(per_cell: int) -> None:
    # the table must not depend on the model fitted from it (nor on one made for other features)
    import djmesh.dsp.analysis as analysis

    analysis.genre_probabilities = lambda feats, beats, bpm: {}  # type: ignore[assignment]
    rows = []
    t0 = time.time()
    for source in sorted(KITS):
        for genre in MATERIAL_GENRES:
            for index in range(per_cell):
                samples, bpm = genre_track(genre, source, index, RATE)
                row, result = _row(samples)
                rows.append(
                    {
                        "source": source,
                        "genre": genre,
                        "index": index,
                        "bpm": bpm,
                        "bpm_read": result["bpm"],
                        "features": list(row),
                    }
                )
        print(f"{source} done ({time.time() - t0:.0f} s)", file=sys.stderr)
    table = {"features": list(FEATURE_NAMES), "genres": list(GENRES), "rows": rows}
    TABLE_PATH.write_text(json.dumps(table, indent=0, sort_keys=True) + "\n", encoding="utf-8")
    print(f"{TABLE_PATH}: {len(rows)} rows", file=sys.stderr)


def _matrix(truth: list[str], guess: list[str]) -> str:
    counts = Counter(zip(truth, guess, strict=True))
    lines = ["| true \\ read | " + " | ".join(GENRES) + " | right |", "|---|" + "---|" * (len(GENRES) + 1)]
    for g in GENRES:
        n = sum(counts[(g, h)] for h in GENRES)
        if not n:
            continue
        lines.append(
            f"| {g} | " + " | ".join(str(counts[(g, h)]) for h in GENRES) + f" | {counts[(g, g)]}/{n} |"
        )
    right = sum(counts[(g, g)] for g in GENRES)
    lines.append(f"\naccuracy {right}/{len(truth)} = {right / len(truth):.3f}")
    return "\n".join(lines)


def report(sets: int) -> None:
    rows = load_table()
    held = [r for r in rows if r["source"] not in TRAIN_SOURCES]
    model = GenreModel()
    probs = model.probabilities([r["features"] for r in held])
    guess = [max(GENRES, key=lambda g, p=p: p[g]) for p in probs]
    print(
        f"Shipped model (fitted on {', '.join(TRAIN_SOURCES)}; sha256 {model.sha256[:16]}), "
        f"held-out source(s) {', '.join(sorted({r['source'] for r in held}))}, {len(held)} tracks:\n"
    )
    print(_matrix([r["genre"] for r in held], guess))
    print("\nLeave one source out (fitted on the other two, tested on it):\n")
    for source in sorted({r["source"] for r in rows}):
        params = fit(rows, [s for s in sorted({r["source"] for r in rows}) if s != source])
        test = [r for r in rows if r["source"] == source]
        p = predict(params, [r["features"] for r in test])
        guess = [GENRES[int(i)] for i in np.argmax(p, axis=1)]
        print(f"held out: {source}\n")
        print(_matrix([r["genre"] for r in test], guess) + "\n")
    if sets:
        _sets_report(sets)


def _sets_report(per_genre: int) -> None:
    from djmesh.judge.analysis import analyse
    from djmesh.judge.features import set_features
    from djmesh.judge.synth import SetSpec, build_set
    from djmesh.protocol.battle import Rules

    held = [s for s in sorted(KITS) if s not in TRAIN_SOURCES]
    truth, read = [], []
    fits = misfits = flagged_fit = flagged_misfit = 0
    for source in held:
        for genre in MATERIAL_GENRES:
            for k in range(per_genre):
                first = 100 + 6 * k

                def maker(
                    index: int, bpm: float, bars: int, rate: int, g: str = genre, s: str = source
                ) -> Any:
                    return genre_track(g, s, index, rate, seconds=bars * 240.0 / bpm, bpm=bpm)[0]

                bpm = genre_track(genre, source, first, RATE)[1]
                bars = int(round(60.0 * bpm / 240.0))  # about a minute per track
                built = build_set(
                    SetSpec(bpm=bpm, bars_per_track=bars, first_track=first, seed=k), make_track=maker
                )
                an = analyse((built.samples, built.sample_rate))
                probs = an["genre"]
                truth.append(genre)
                read.append(max(GENRES, key=lambda g, p=probs: p[g]))
                for battle in GENRES:
                    flags = set_features(an, Rules.for_genre(battle)).flags
                    hit = any(f.startswith("genre:") for f in flags)
                    if battle == genre:
                        fits += 1
                        flagged_fit += hit
                    else:
                        misfits += 1
                        flagged_misfit += hit
    print(f"Six-track mixes of the held-out source(s), {per_genre} per genre, read as whole sets:\n")
    print(_matrix(truth, read))
    print(f"\ngenre flag on a set of the battle's own genre: {flagged_fit}/{fits} (false flags)")
    print(f"genre flag on a set of another genre: {flagged_misfit}/{misfits}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--regenerate", action="store_true")
    parser.add_argument("--per-cell", type=int, default=12, help="tracks per genre and source")
    parser.add_argument("--sets", type=int, default=0, help="six-track mixes per genre to read as sets")
    args = parser.parse_args()
    if args.regenerate:
        regenerate(args.per_cell)
        return
    report(args.sets)


if __name__ == "__main__":
    main()
