"""How well the judge finds one mistake, per sample source, per defect and severity, per tempo.

    .venv/bin/python bench/judge_eval.py [--tempos 85,126,174] [--sources lmms,sonic-pi,hydrogen]
        [--seeds 8] [--first-set 0] [--dump pairs.json] [--trim-onsets | --align-attacks]

For every source (``bench/judge_material.py``) and tempo: a clean six-track set, and the same set
with one mistake at its third blend (``Defects(only_transition=3)``), one defect at a time at graded
severities. Each set is judged from its audio alone (no declared tracklist, so phrasing rests on
the dsp downbeats), under the rules of the battle its tempo belongs to (85: hip hop, 126: house, 174:
drum & bass), so the judge reads tempo within that genre's range as ``judge_sets`` does in a battle.
Reported per cell, over the tempos:

* found: a finding of the defect's criterion within 4 s of the start of the blend that has it;
* pairs: the clean set beats the flawed one in both orders (``judge_sets(clean, flawed)`` and
  ``judge_sets(flawed, clean)``);
* with ``--seeds N`` (N > 1), N - 1 more sets per source and tempo (other tracks, other draws) are
  judged at the **mildest** severity of each defect only, so the cells the issue's 95 % goal is about
  count 3N pairs per source instead of 3 (the graded severities stay one set per tempo);
* with ``--first-set K``, the sets start at number K (3K + tempo index): sets no earlier round has judged,
  for a fresh held-out look after a change was chosen on the first ones (hydrogen's sets 24 and up take
  other samples of its eight kits, ``judge_material.track_maker``: before 2026-12-06 they repeated sets 0-23);
* and per source: blends found within 4 s of their centre, and technical findings on clean sets
  (false alarms).

``--trim-onsets`` starts every one-shot of the sequenced sources at its attack rather than at its file's
start (``bench/judge_material.py``), so that a clean set is lined up on what is heard. ``--align-attacks`` does
the same keeping each file whole: the sample sounds from just before its step, its attack on the step. By
default a one-shot starts on its step, and a kit's kick 0-18 ms into its file puts a clean hydrogen blend up to
16 ms out as heard (BENCHMARKS.md, issue 16 twenty-third round).

The judge's model and finding thresholds were made on lmms loops only: the sonic-pi and hydrogen
rows are material it never saw. Nothing is tuned here.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import judge_material
from judge_material import SOURCES, bars_per_track, track_maker

from djmesh.judge.analysis import analyse
from djmesh.judge.scoring import judge_sets, read_bpm_range, score_set
from djmesh.judge.synth import BuiltSet, Defects, SetSpec, build_set
from djmesh.protocol.battle import Rules

NEAR_S = 4.0
AT = 3  # the blend that gets the mistake
TECHNICAL = ("beatmatch", "tempo", "transitions", "phrasing", "gain")
#: defect -> (criterion, Defects field, severities, how to print one)
DEFECTS: dict[str, tuple[str, str, tuple[float, ...], str]] = {
    "phase": ("beatmatch", "phase_ms", (20.0, 40.0, 70.0, 150.0), "{:g} ms"),
    "tempo": ("tempo", "tempo_spread", (0.005, 0.01, 0.02, 0.04), "{:.1%}"),
    "gain": ("gain", "gain_jump_db", (3.0, 6.0, 9.0), "{:g} dB"),
    "bar": ("phrasing", "bar_shift_beats", (1, 2, 4), "{:g} beats"),
}


def _rules(bpm: float) -> Rules:
    """The battle a set of this tempo is played in: a judge knows its genre and reads tempo inside it."""
    return Rules.for_genre("hiphop" if bpm < 100 else "house" if bpm <= 150 else "dnb")


def _analysed(spec: SetSpec, source: str) -> tuple[BuiltSet, dict[str, Any]]:
    built = build_set(spec, make_track=track_maker(source, spec.first_track))
    return built, analyse((built.samples, built.sample_rate), bpm_range=read_bpm_range(_rules(spec.bpm)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tempos", default="85,126,174")
    parser.add_argument("--sources", default=",".join(SOURCES))
    parser.add_argument(
        "--seeds", type=int, default=1, help="sets per source and tempo at the mildest severities"
    )
    parser.add_argument(
        "--first-set",
        type=int,
        default=0,
        help="start at this set number: sets the earlier rounds never judged (no graded severities)",
    )
    parser.add_argument("--dump", help="write every pair's features and totals to this JSON file")
    parser.add_argument(
        "--trim-onsets",
        action="store_true",
        help="sequenced sources: one-shots start at their attack, not at their file's start",
    )
    parser.add_argument(
        "--align-attacks",
        action="store_true",
        help="sequenced sources: each one-shot's attack on its step, the whole file kept",
    )
    args = parser.parse_args()
    judge_material.TRIM_ONSETS = args.trim_onsets
    judge_material.ALIGN_ATTACKS = args.align_attacks
    tempos = [float(t) for t in args.tempos.split(",")]
    sources = args.sources.split(",")
    found: dict[tuple[str, str, float], list[bool]] = defaultdict(list)
    pairs: dict[tuple[str, str, float], list[bool]] = defaultdict(list)
    applied: dict[tuple[str, str, float], list[float]] = defaultdict(list)
    blends: dict[str, list[bool]] = defaultdict(list)
    alarms: dict[str, list[str]] = defaultdict(list)
    t0 = time.time()
    dump: list[dict[str, Any]] = []
    for source in sources:
        for k in range(args.first_set, args.first_set + max(1, args.seeds)):
            for i, bpm in enumerate(tempos):
                n = i + k * len(tempos)  # seed 0 is the set of the earlier rounds
                _one_set(source, bpm, n, k == 0, found, pairs, applied, blends, alarms, dump)
                print(f"{source} {bpm:g} BPM set {k} done ({time.time() - t0:.0f} s)", file=sys.stderr)
    if args.dump:
        Path(args.dump).write_text(json.dumps(dump, indent=1, sort_keys=True))
    _report(sources, tempos, found, pairs, applied, blends, alarms)


def _one_set(
    source: str,
    bpm: float,
    n: int,
    graded: bool,
    found: dict[tuple[str, str, float], list[bool]],
    pairs: dict[tuple[str, str, float], list[bool]],
    applied: dict[tuple[str, str, float], list[float]],
    blends: dict[str, list[bool]],
    alarms: dict[str, list[str]],
    dump: list[dict[str, Any]],
) -> None:
    """Judge one clean set against its flawed copies (every severity, or only the mildest ones)."""
    base = SetSpec(bpm=bpm, bars_per_track=bars_per_track(bpm), first_track=n, seed=n)
    clean, clean_an = _analysed(base, source)
    fade_s = 8 * 4 * 60.0 / bpm
    centres = [c + fade_s / 2 for c in clean.cues[1:]]
    got = [float(t["centre"]) for t in clean_an["transitions"]]
    blends[source] += [any(abs(g - c) <= NEAR_S for g in got) for c in centres]
    rules = _rules(bpm)
    clean_findings = score_set(clean_an, rules).findings
    alarms[source] += [
        f"{bpm:g} BPM set {n} {f.criterion}: {f.text}" for f in clean_findings if f.criterion in TECHNICAL
    ]
    for defect, (criterion, field, severities, _) in DEFECTS.items():
        for sev in severities if graded else severities[:1]:
            spec = SetSpec(
                bpm=bpm,
                bars_per_track=bars_per_track(bpm),
                first_track=n,
                seed=n,
                defects=Defects(**{field: type(getattr(Defects(), field))(sev)}, only_transition=AT),
            )
            flawed, an = _analysed(spec, source)
            at = flawed.cues[AT]
            mine = [f for f in score_set(an, rules).findings if f.criterion == criterion]
            key = (source, defect, sev)
            found[key].append(any(abs(f.at_s - at) <= NEAR_S for f in mine))
            first, second = judge_sets(clean_an, an, rules), judge_sets(an, clean_an, rules)
            pairs[key].append(first.winner == "a" and second.winner == "b")
            if defect == "tempo":
                applied[key].append(abs(flawed.bpms[AT] / bpm - 1.0) * 100.0)
            dump.append(
                {
                    "source": source,
                    "bpm": bpm,
                    "set": n,
                    "defect": defect,
                    "severity": sev,
                    "found": found[key][-1],
                    "won": pairs[key][-1],
                    "clean": {"features": first.features["a"], "scores": first.a.values},
                    "flawed": {"features": first.features["b"], "scores": first.b.values},
                }
            )


def _frac(values: list[bool]) -> str:
    return f"{sum(values)}/{len(values)}"


def _report(
    sources: list[str],
    tempos: list[float],
    found: dict[tuple[str, str, float], list[bool]],
    pairs: dict[tuple[str, str, float], list[bool]],
    applied: dict[tuple[str, str, float], list[float]],
    blends: dict[str, list[bool]],
    alarms: dict[str, list[str]],
) -> None:
    tempo_list = ", ".join(f"{t:g}" for t in tempos)
    print(f"Found at the blend (finding of the right criterion within {NEAR_S:g} s) / clean set wins both")
    print(f"orders; over tempos {tempo_list} BPM (cells count every set judged at that severity).\n")
    print("| defect | severity | " + " | ".join(f"{s} found | {s} pairs" for s in sources) + " |")
    print("|---|---|" + "---|---|" * len(sources))
    for defect, (_, _, severities, fmt) in DEFECTS.items():
        for sev in severities:
            label = fmt.format(sev)
            if defect == "tempo":
                done = [v for s in sources for v in applied[(s, defect, sev)]]
                label += f" (applied {min(done):.2f}-{max(done):.2f} %)" if done else ""
            cells = " | ".join(
                f"{_frac(found[(s, defect, sev)])} | {_frac(pairs[(s, defect, sev)])}" for s in sources
            )
            print(f"| {defect} | {label} | {cells} |")
    print("\n| source | blends found within 4 s of their centre | technical findings on clean sets |")
    print("|---|---|---|")
    for s in sources:
        print(f"| {s} | {_frac(blends[s])} | {len(alarms[s])} on {len(blends[s]) // 5} sets |")
    for s in sources:
        for line in alarms[s]:
            print(f"  false alarm, {s}: {line}", file=sys.stderr)


if __name__ == "__main__":
    main()
