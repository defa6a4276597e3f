"""Beat grids on the beat or half a beat off it, per source and tempo, before and after the
half-beat rule of ``dsp/beats.py`` (same run, same tracks).

    .venv/bin/python bench/grid_phase_eval.py [--per-tempo 8] [--first 8]

Tracks are single ``bench/judge_material.py`` tracks (sequenced: the beat is at sample 0 of every
bar) at 85, 126 and 174 BPM, analysed alone under the tempo range of the battle genre the tempo
belongs to, as the judge reads them. A grid whose beats sit within 10 % of a beat of the true ones
is "on", within 10 % of the half beat "off". "before" is the previous rule (the low band alone
decides, when one side has 1.15 times the other's kick strength). The rule's threshold was chosen
on tracks 0-7 of lmms and hydrogen; sonic-pi is held out, and tracks from ``--first`` on were not
looked at.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np
import numpy.typing as npt
from judge_material import SOURCES

import djmesh.dsp.beats as beats
from djmesh.dsp.analysis import analyze_features
from djmesh.dsp.features import extract, pcm_blocks

RATE = 22050
RANGES = {85.0: (70.0, 100.0), 126.0: (115.0, 135.0), 174.0: (160.0, 185.0)}


def _previous_rule(
    broad: npt.NDArray[np.float32],
    low: npt.NDArray[np.float64],
    period: float,
    phase: float,
    s0: int,
    s1: int,
) -> bool:
    here = beats.BeatGrid(period, phase, s0, s1).beat_frames()
    there = beats.BeatGrid(period, phase + period / 2.0, s0, s1).beat_frames()
    return beats._sample_max(low, there) > 1.15 * beats._sample_max(low, here)


def _where(beat_times: list[float], bpm: float) -> str:
    period = 60.0 / bpm
    frac = float(np.median(((np.asarray(beat_times) + period / 2) % period - period / 2) / period))
    return "on" if abs(frac) < 0.1 else "off" if abs(abs(frac) - 0.5) < 0.1 else "other"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--per-tempo", type=int, default=8)
    parser.add_argument("--first", type=int, default=8)
    parser.add_argument("--sources", default=",".join(SOURCES))
    args = parser.parse_args()
    shipped = beats._half_beat_is_the_beat
    counts: dict[tuple[str, float, str], dict[str, int]] = defaultdict(lambda: defaultdict(int))
    t0 = time.time()
    sources = args.sources.split(",")
    for source in sources:
        for bpm, bpm_range in RANGES.items():
            bars = 24 if bpm < 100 else 32 if bpm <= 150 else 48
            for index in range(args.first, args.first + args.per_tempo):
                x = SOURCES[source](index, bpm, bars, RATE)
                feats = extract(pcm_blocks(np.asarray(x, np.float32), RATE), RATE, 1)
                for label, rule in (("before", _previous_rule), ("after", shipped)):
                    beats._half_beat_is_the_beat = rule  # type: ignore[assignment]
                    result = analyze_features(feats, bpm_range=bpm_range)
                    counts[(source, bpm, label)][_where(result["beats"], bpm)] += 1  # type: ignore[arg-type]
                beats._half_beat_is_the_beat = shipped  # type: ignore[assignment]
        print(f"{source} done ({time.time() - t0:.0f} s)", file=sys.stderr)
    print("Grids on the beat (off by half a beat) before -> after:\n")
    print("| tempo | " + " | ".join(sources) + " |")
    print("|---|" + "---|" * len(sources))
    for bpm in (*RANGES, 0.0):
        cells = []
        for source in sources:
            tempos = list(RANGES) if bpm == 0.0 else [bpm]
            b = {k: sum(counts[(source, t, "before")][k] for t in tempos) for k in ("on", "off", "other")}
            a = {k: sum(counts[(source, t, "after")][k] for t in tempos) for k in ("on", "off", "other")}
            n = sum(b.values())
            cells.append(f"{b['on']}/{n} ({b['off']}) -> {a['on']}/{n} ({a['off']})")
        print(f"| {'all' if bpm == 0.0 else f'{bpm:g} BPM'} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
