"""Transitions found in mixes from three sample sources, and none inside a track with a breakdown.

    .venv/bin/python bench/transition_eval.py [--tempos 85,126,174] [--sets 2] [--sources ...]
        [--styles linear,eq_swap,cut,echo_out] [--blend-bars 1,4,8,16,32]

Blends: clean six-track sets (``bench/judge_material.py`` sources, the ``djmesh.judge.synth`` builder)
at each tempo, ``--sets`` per tempo with other tracks, for each blend style and length (default: 8-bar
linear crossfades only); a blend counts as found when a reported transition's centre is within 4 s of
the true centre (``BuiltSet.centres``: the middle of a crossfade or an EQ swap, where the lows swap;
the cut of a cut; where the outgoing stops in an echo-out); every other reported transition is a false
one. Tracks grow with blends over 8 bars (at least 16 bars outside their two blends). Breakdowns: single tracks of ``bench/genre_material.py`` (about 2.5 min)
whose drums drop out for 16 bars and come back; any transition reported in them is false. The dsp
segmentation was tuned on lmms (and, in this round, hydrogen); sonic-pi is held out.
"""

from __future__ import annotations

import argparse
import itertools
import sys
import time
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np
from genre_material import GENRES, genre_track
from judge_material import SOURCES, bars_per_track

from djmesh.dsp import analyze_pcm
from djmesh.judge.synth import BLEND_STYLES, BlendStyle, Defects, SetSpec, build_set

NEAR_S = 4.0
RATE = 22050


def _bars(bpm: float, blend_bars: int = 8) -> int:
    """Track length: the earlier rounds' for blends up to 8 bars, at least 16 bars outside longer ones."""
    bars = bars_per_track(bpm)
    return bars if blend_bars <= 8 else max(bars, 2 * blend_bars + 16)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tempos", default="85,126,174")
    parser.add_argument("--sets", type=int, default=2)
    parser.add_argument(
        "--first-set", type=int, default=0, help="start at this set number: sets earlier rounds never judged"
    )
    parser.add_argument("--sources", default=",".join(SOURCES))
    parser.add_argument("--breakdowns", type=int, default=6, help="breakdown tracks per source")
    parser.add_argument("--styles", default="linear", help=f"blend styles, of {','.join(BLEND_STYLES)}")
    parser.add_argument("--blend-bars", default="8", help="blend lengths in bars")
    parser.add_argument("--verbose", action="store_true")
    args = parser.parse_args()
    styles: list[BlendStyle] = [s for s in BLEND_STYLES if s in args.styles.split(",")]
    lengths = [int(v) for v in args.blend_bars.split(",")]
    cells = [(style, n) for style in styles for n in lengths]
    found: dict[tuple[str, str, int], list[bool]] = defaultdict(list)
    false: dict[tuple[str, str, int], int] = defaultdict(int)
    broken: dict[str, list[int]] = defaultdict(list)
    t0 = time.time()
    for source in args.sources.split(","):
        for (style, n), (i, bpm) in itertools.product(
            cells, enumerate(float(t) for t in args.tempos.split(","))
        ):
            for k in range(args.first_set, args.first_set + args.sets):
                spec = SetSpec(
                    bpm=bpm,
                    bars_per_track=_bars(bpm, n),
                    first_track=i + 7 * k,
                    seed=i + 7 * k,
                    defects=Defects(fade_bars=n, blend=style),
                )
                built = build_set(spec, make_track=SOURCES[source])
                centres = built.centres
                got = [
                    float(t["centre"]) for t in analyze_pcm(built.samples, built.sample_rate)["transitions"]
                ]  # type: ignore[union-attr]
                hits = [any(abs(g - c) <= NEAR_S for g in got) for c in centres]
                found[source, style, n] += hits
                extra = [g for g in got if all(abs(g - c) > NEAR_S for c in centres)]
                false[source, style, n] += len(extra)
                if args.verbose:
                    print(
                        f"  {source} {style} {n} bars {bpm:g} set {k}: truth {[round(c) for c in centres]} "
                        f"got {[round(g) for g in got]}",
                        file=sys.stderr,
                    )
        for j in range(args.breakdowns):
            genre = GENRES[j % len(GENRES)]
            probe = genre_track(
                genre, source if source in ("lmms", "sonic-pi", "hydrogen") else "lmms", 50 + j, RATE
            )[1]
            bars = int(round(150.0 * probe / 240.0))
            a = bars // 2 - 8
            x, _ = genre_track(
                genre, source, 50 + j, RATE, seconds=bars * 240.0 / probe, breakdown=(a, a + 16)
            )
            got = analyze_pcm(x.astype(np.float32), RATE)["transitions"]
            broken[source].append(len(got))  # type: ignore[arg-type]
            if args.verbose and got:
                print(f"  {source} breakdown {genre}: {got}", file=sys.stderr)
        print(f"{source} done ({time.time() - t0:.0f} s)", file=sys.stderr)
    sources = args.sources.split(",")
    if cells == [("linear", 8)]:  # the table of the earlier rounds
        print(
            "| source | blends found within 4 s of their centre | false transitions in the sets | "
            "breakdown tracks with a transition |"
        )
        print("|---|---|---|---|")
        for source in sources:
            f = found[source, "linear", 8]
            b = broken[source]
            print(
                f"| {source} | {sum(f)}/{len(f)} ({sum(f) / max(1, len(f)):.0%}) | {false[source, 'linear', 8]} | "
                f"{sum(1 for v in b if v)}/{len(b)} |"
            )
        return
    print("| style | bars | " + " | ".join(f"{s} found | {s} false" for s in sources) + " |")
    print("|---|---|" + "---|---|" * len(sources))
    for style, n in cells:
        row = []
        for source in sources:
            f = found[source, style, n]
            row += [f"{sum(f)}/{len(f)}", str(false[source, style, n])]
        print(f"| {style} | {n} | " + " | ".join(row) + " |")
    print()
    print("| source | blends found (all styles and lengths) | breakdown tracks with a transition |")
    print("|---|---|---|")
    for source in sources:
        f = [h for (src, _, _), v in found.items() if src == source for h in v]
        b = broken[source]
        print(
            f"| {source} | {sum(f)}/{len(f)} ({sum(f) / max(1, len(f)):.0%}) | {sum(1 for v in b if v)}/{len(b)} |"
        )


if __name__ == "__main__":
    main()
