"""Tempo of every track inside six-track beat-matched sets, as the judge reads a set.

    .venv/bin/python bench/set_tempo_eval.py [--sets 2] [--sources lmms,hydrogen,sonic-pi]

The sets are the ones ``bench/genre_eval.py --sets N`` builds (``djmesh.judge.synth`` crossfades of
``bench/genre_material.py`` tracks from index 100 on, about a minute each, all at the first track's
tempo), here for every source and genre. Each set is analysed whole (``djmesh.judge.analysis``); a
track is wrong when its tempo is more than 4 % from the set's. sonic-pi is the held-out source:
nothing in the tempo tracker was tuned on it.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from genre_material import GENRES, KITS, genre_track

from djmesh.judge.analysis import analyse
from djmesh.judge.synth import SetSpec, build_set

RATE = 22050
TOLERANCE = 0.04


def _set_reads(genre: str, source: str, k: int) -> tuple[float, float, list[float]]:
    """(true tempo, the set's tempo, each track's tempo) of set ``k`` of ``genre`` from ``source``."""
    first = 100 + 6 * k
    bpm = genre_track(genre, source, first, RATE)[1]
    bars = int(round(60.0 * bpm / 240.0))  # about a minute per track

    def maker(index: int, tempo: float, n_bars: int, rate: int) -> object:
        return genre_track(genre, source, index, rate, seconds=n_bars * 240.0 / tempo, bpm=tempo)[0]

    built = build_set(SetSpec(bpm=bpm, bars_per_track=bars, first_track=first, seed=k), make_track=maker)
    an = analyse((built.samples, built.sample_rate))
    tracks = [float(t["bpm"]) for t in an["tracks"]]  # type: ignore[index, union-attr]
    return bpm, float(an["bpm"]), tracks  # type: ignore[arg-type]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sets", type=int, default=2, help="sets per genre and source")
    parser.add_argument("--sources", default=",".join(sorted(KITS)))
    args = parser.parse_args()
    sources = args.sources.split(",")
    wrong: dict[tuple[str, str], list[int]] = {}
    for source in sources:
        for genre in GENRES:
            cell = wrong.setdefault((source, genre), [0, 0])
            for k in range(args.sets):
                bpm, whole, tracks = _set_reads(genre, source, k)
                bad = [t for t in tracks if abs(t / bpm - 1.0) > TOLERANCE]
                cell[0] += len(bad)
                cell[1] += len(tracks)
                mark = "  <- wrong" if bad or abs(whole / bpm - 1.0) > TOLERANCE else ""
                print(
                    f"  {source} {genre} set {k}: {bpm} read {whole}, tracks {tracks}{mark}", file=sys.stderr
                )
    print("Tracks read more than 4 % off their set's tempo (wrong / tracks):\n")
    print("| genre | " + " | ".join(sources) + " |")
    print("|---|" + "---|" * len(sources))
    for genre in (*GENRES, "all"):
        cells = []
        for source in sources:
            picked = GENRES if genre == "all" else (genre,)
            w = sum(wrong[(source, g)][0] for g in picked)
            n = sum(wrong[(source, g)][1] for g in picked)
            cells.append(f"{w}/{n}")
        print(f"| {genre} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
