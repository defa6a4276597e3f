"""Seconds from the end of the sets to the result every node agrees on, in `djmesh demo`.

    .venv/bin/python bench/battle_result.py [--viewers 10 30] [--runs 1] [--no-ledger] [--keep] [--json]
    .venv/bin/python bench/battle_result.py --processes [--viewers 10] [--runs 1] [--keep] [--json]

Runs the user's command, `djmesh --home <tmp> demo --viewers N --json` (two DJs and N viewers on
loopback in one process, the committee the largest 3f+1 of them), and reads
`timing.sets_end_to_agreed_result_s`: from the end of the sets until every node holds a verified
result. From a viewer's store it splits that time by the members' signed commits: judging (sets end
to the last commit) and consensus (last commit to the agreed result: commits, reveals and result
bundles crossing the mesh). The reference is what the same demo paid before reveals opened early:
they waited for the commit deadline, so no result could stand before `commit_window_s` (25 s).

Where the seconds go: every node's `timing.steps` (seconds after the sets' end at which it passed
each step, `BattleService.timeline`), printed per run as the median (and max) over the members or
all nodes: live copy ended, set whole here, decoded, judged, commit published, all commits held
(reveals open), reveal published, all reveals held (tally), result held. `--json` prints every
run's summary (with the steps of every node) instead of the table, and the load average with it.

`--processes`: every node its own `djmesh node` process, the battle driven through the CLI and read
through each node's control API (`bench/battle_processes.py`; no ledger): each member judges alone, as on
its own machine, and no interpreter lock is shared, though the machine's cores still are.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

DJMESH = Path(sys.executable).with_name("djmesh")


def commit_times_s(home: Path, battle_id: str) -> tuple[float, float] | None:
    """(first, last) commit of the battle, seconds after the sets ended, as signed; None if unknown."""
    from djmesh.node.store import Store
    from djmesh.protocol.battle import BattleAnnounce, VerdictCommit

    store = Store(home / "demo" / "viewer-1" / "store.sqlite3")
    announce = next(
        (
            s.envelope
            for s in store.query(kind="battle_announce", limit=100)
            if s.envelope.content_id.hex() == battle_id
        ),
        None,
    )
    if announce is None or not isinstance(announce.message, BattleAnnounce):
        return None
    sets_end = announce.message.sets_end
    times = [
        s.envelope.created_at_ms
        for s in store.query(kind="battle_commit", limit=1000)
        if isinstance(s.envelope.message, VerdictCommit) and s.envelope.message.battle.hex() == battle_id
    ]
    if not times:
        return None
    return (min(times) - sets_end) / 1000, (max(times) - sets_end) / 1000


#: the steps a node passes after the sets, in order, with who passes them (``BattleService.timeline``)
STEPS = (
    ("judge_warm", "members"),
    ("live_end_a", "members"),
    ("live_end_b", "members"),
    ("whole_a", "members"),
    ("whole_b", "members"),
    ("decoded_a", "members"),
    ("decoded_b", "members"),
    ("judged", "members"),
    ("committed", "members"),
    ("last_commit_signed", "all"),
    ("reveals_open", "all"),
    ("revealed", "members"),
    ("last_reveal_signed", "all"),
    ("tally", "members"),
    ("result", "all"),
)


def step_rows(summary: dict[str, Any]) -> list[str]:
    """One line per step: median and max over the nodes that passed it, seconds after the sets' end."""
    nodes = summary["timing"].get("steps", {})
    rows = []
    for step, who in STEPS:
        times = [t[step] for t in nodes.values() if step in t]
        if times:
            rows.append(
                f"    {step:<19} median {statistics.median(times):6.2f} s  max {max(times):6.2f} s"
                f"  ({len(times)} {'members' if who == 'members' else 'nodes'})"
            )
    return rows


def load_average() -> str:
    with contextlib.suppress(OSError):
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    return "?"


def run_once(
    viewers: int, *, ledger: bool, keep: bool, processes: bool = False, committee: int | None = None
) -> dict[str, Any] | None:
    """One demo's summary, or None when it agreed on no result (its last error line is printed)."""
    with contextlib.ExitStack() as stack:
        if keep:
            home = Path(tempfile.mkdtemp(prefix="djmesh-bench-result-"))
            print(
                f"  {viewers} viewers: home (with the nodes' logs) kept in {home}",
                file=sys.stderr,
                flush=True,
            )
        else:
            home = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="djmesh-bench-result-")))
        if processes:
            from battle_processes import run_processes

            started = time.monotonic()
            found = run_processes(viewers, home, committee)
            if found is not None:
                found.update(wall_s=time.monotonic() - started, load_average=load_average(), commits_s=None)
            return found
        command = [str(DJMESH), "--home", str(home), "demo", "--viewers", str(viewers), "--json"]
        if not ledger:
            command.append("--no-ledger")
        started = time.monotonic()
        done = subprocess.run(command, capture_output=True, text=True, timeout=1800, check=False)
        if done.returncode != 0:
            last = done.stderr.strip().splitlines()[-1:] or ["(no output)"]
            print(f"  {viewers} viewers: {' '.join(command[1:])} failed: {last[0][:200]}", flush=True)
            return None
        summary: dict[str, Any] = json.loads(done.stdout)
        summary["wall_s"] = time.monotonic() - started
        summary["load_average"] = load_average()
        summary["commits_s"] = commit_times_s(home, summary["battle_id"])
        return summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--viewers", type=int, nargs="+", default=[10, 30])
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--no-ledger", action="store_true", help="pass --no-ledger to the demo")
    parser.add_argument("--keep", action="store_true", help="keep each run's demo home (logs) in /tmp")
    parser.add_argument("--json", action="store_true", help="print every run's summary as JSON lines")
    parser.add_argument(
        "--processes", action="store_true", help="every node its own `djmesh node` process (no ledger)"
    )
    parser.add_argument(
        "--committee",
        type=int,
        help="committee size with --processes (3f + 1; default: the demo's for the viewers). Each member judges"
        " both sets on the shared cores: 28 members of 30 viewers did not judge within the commit window on 2 cores",
    )
    args = parser.parse_args()
    run = functools.partial(
        run_once,
        ledger=not args.no_ledger,
        keep=args.keep,
        processes=args.processes,
        committee=args.committee,
    )
    if args.json:
        for viewers in args.viewers:
            for _ in range(args.runs):
                summary = run(viewers)
                print(json.dumps({"viewers": viewers, "summary": summary}), flush=True)
        return
    what = "separate `djmesh node` processes" if args.processes else "djmesh demo"
    print(f"{what}{' --no-ledger' if args.no_ledger else ''}, {args.runs} run(s) per size")
    print("viewers committee agreed  commit window  first/last commit  sets end -> result (median; runs)")
    for viewers in args.viewers:
        attempts = [run(viewers) for _ in range(args.runs)]
        runs = [r for r in attempts if r is not None]
        if not runs:
            print(f"{viewers:>7}  no result in {args.runs} run(s)")
            continue
        figures = [float(r["timing"]["sets_end_to_agreed_result_s"]) for r in runs]
        failed = f"; {len(attempts) - len(runs)} run(s) without a result" if len(runs) < len(attempts) else ""
        last = runs[-1]
        commits = last["commits_s"]
        shown = "?" if commits is None else f"{commits[0]:.1f} / {commits[1]:.1f} s"
        print(
            f"{viewers:>7} {len(last['result']['committee']):>9} {last['result']['agreed_by']:>3}/{last['result']['nodes']:<3}"
            f" {last['timing']['commit_window_s']:>9} s  {shown:>17}  {statistics.median(figures):.2f} s"
            f" ({', '.join(f'{f:.2f}' for f in figures)}{failed})"
        )
        for number, run in enumerate(runs, 1):
            print(
                f"  run {number}: {run['timing']['sets_end_to_agreed_result_s']:.2f} s, load {run['load_average']}"
            )
            print("\n".join(step_rows(run)))
    print("reference: before reveals opened early, no result before the commit window had passed")


if __name__ == "__main__":
    main()
