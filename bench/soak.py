"""Soak: battles back to back on the same simulated nodes, a random fault each, for N minutes of real time.

The nodes of node/sim/battles.py (a hub, two DJs, six viewers; committee of 4) stay up for the whole run,
on the in-memory network and virtual time, so whatever a battle leaves behind accumulates: a leak shows as
memory or a table that grows battle after battle. Each battle draws one fault from the battle scenarios
that leave the nodes reusable (a partition around join_by, the commit or the reveal deadline; a member
crashing after its commit and restarting; DJ B crashing mid-set, restarted after the battle); with
``--skew`` a third of the nodes run on clocks 1.5-2 s off for the whole run.

Reported: battles played, how many disagreed (two nodes counting different results), how many within f
ended without a result at every node still running; the process's resident memory after the first battle
and at the end (and the growth per battle over the second half, a least-squares slope); per table, the
largest size any node held after the first battle and at the end, next to its bound where it has one.

    .venv/bin/python bench/soak.py --minutes 3 --seed 1
    .venv/bin/python bench/soak.py --minutes 30 --json
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import logging
import os
import random
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from djmesh.node.battle.service import MAX_FINISHED_BATTLES, MAX_OPEN_BATTLES, DjSet
from djmesh.node.clock import run_virtual
from djmesh.node.sim.battles import (
    F,
    Fault,
    SimBattle,
    dj_crashes_mid_set,
    member_restarts_after_commit,
    no_fault,
    partition_at_commit,
    partition_at_join_by,
    partition_at_reveal,
    play_battle,
    sim_rules,
)
from djmesh.node.sim.p2p import SEEN_MESSAGES
from tests.helpers.sets import write_wav

FAULTS: list[tuple[str, Fault]] = [
    ("no fault", no_fault),
    ("a viewer cut off around join_by", partition_at_join_by),
    ("a member cut off as members commit", partition_at_commit),
    ("a member cut off around the commit deadline", partition_at_reveal),
    ("a member crashes after committing, restarts", member_restarts_after_commit),
    ("DJ B crashes mid-set", dj_crashes_mid_set),
]
SKEWS = {"dj-b": 2.0, "viewer-1": -2.0, "viewer-2": 1.5}
#: what a table may hold at most (None: grows with what the node stores or follows, by design)
BOUNDS: dict[str, int | None] = {
    "battles (open + finished)": MAX_OPEN_BATTLES + MAX_FINISHED_BATTLES,
    "gossip seen ids": SEEN_MESSAGES,
    "stored messages": None,
    "asyncio tasks (whole process)": None,
}


def _size(obj: object, attribute: str) -> int:
    value = getattr(obj, attribute, None)
    return len(value) if value is not None and hasattr(value, "__len__") else 0


def table_sizes(sim: SimBattle) -> dict[str, int]:
    """The largest size of each table over the running nodes."""
    sizes: dict[str, int] = {}

    def keep(name: str, value: int) -> None:
        sizes[name] = max(sizes.get(name, 0), value)

    for peer in sim.peers.values():
        node, battles = peer.node, peer.battles
        keep("battles (open + finished)", len(battles.battles))
        keep("battle sets pending", _size(battles, "_pending_sets"))
        keep("gossip seen ids", _size(node.host, "_seen"))
        keep("node accepted cache", _size(node, "_accepted"))
        keep("node topics", _size(node, "_topics"))
        keep("node event subscribers", _size(node, "_subscribers"))
        live = battles.live
        for attribute in (
            "_served",
            "_broadcasts",
            "_subscriptions",
            "_announces",
            "_ends",
            "_tempos",
            "_cues",
        ):
            keep(f"live {attribute.strip('_')}", _size(live, attribute))
        keep("stored messages", node.store.count())
    keep("asyncio tasks (whole process)", len(asyncio.all_tasks()))
    return sizes


def rss_mb() -> float:
    """Resident memory now (Linux /proc), else the peak so far."""
    gc.collect()
    try:
        pages = int(Path("/proc/self/statm").read_text().split()[1])
        return pages * os.sysconf("SC_PAGE_SIZE") / 2**20
    except (OSError, ValueError, IndexError):
        import resource

        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def slope(values: list[float]) -> float:
    """Least-squares growth per step."""
    n = len(values)
    if n < 2:
        return 0.0
    mean_x, mean_y = (n - 1) / 2, sum(values) / n
    num = sum((x - mean_x) * (y - mean_y) for x, y in enumerate(values))
    den = sum((x - mean_x) ** 2 for x in range(n))
    return num / den


async def soak(
    root: Path,
    seed: int,
    minutes: float,
    skew: bool,
    sets: tuple[DjSet, DjSet],
    max_battles: int | None = None,
) -> dict[str, Any]:
    rng = random.Random(seed)
    sim = SimBattle(root / "nodes", seed, clock_offsets_s=SKEWS if skew else None)
    rules = sim_rules()
    stop_at = time.perf_counter() + minutes * 60
    rows: list[dict[str, Any]] = []
    memory: list[float] = []
    first_tables: dict[str, int] = {}
    try:
        await sim.start()
        await sim.settle()
        while time.perf_counter() < stop_at and (max_battles is None or len(rows) < max_battles):
            name, fault = rng.choice(FAULTS)
            row = await play_battle(sim, name, fault, sets, rules)
            for crashed in sorted(sim.down):  # a crashed DJ comes back for the next battle
                await sim.restart(crashed)
            await sim.settle()
            rows.append(row)
            memory.append(rss_mb())
            if len(rows) == 1:
                first_tables = table_sizes(sim)
            logging.getLogger("soak").warning(
                "battle %d (%s): agreed %s, result %s at %d/%d, rss %.0f MB",
                len(rows),
                name,
                row["agreed"],
                row["result"],
                row["nodes_with_result"],
                row["nodes_running"],
                memory[-1],
            )
        last_tables = table_sizes(sim)
        tasks = Counter(t.get_coro().__qualname__ for t in asyncio.all_tasks())  # type: ignore[union-attr]
    finally:
        await sim.close()
    within = [r for r in rows if r["within_f"] and "DJ" not in r["name"]]
    half = memory[len(memory) // 2 :]
    return {
        "seed": seed,
        "minutes": minutes,
        "skewed_clocks": SKEWS if skew else {},
        "battles": len(rows),
        "faults": {n: sum(1 for r in rows if r["name"] == n) for n, _ in FAULTS},
        "disagreed": sum(1 for r in rows if not r["agreed"]),
        "within_f_without_result_everywhere": sum(
            1 for r in within if r["nodes_with_result"] < r["nodes_running"] - r["faulty"]
        ),
        "f": F,
        "rss_mb_after_first": round(memory[0], 1) if memory else None,
        "rss_mb_end": round(memory[-1], 1) if memory else None,
        "rss_mb_per_battle_second_half": round(slope(half), 2),
        "tables": {
            name: {"after_first": first_tables.get(name, 0), "end": size, "bound": BOUNDS.get(name)}
            for name, size in sorted(last_tables.items())
        },
        "tasks_at_end": dict(tasks.most_common(8)),
        "per_battle": [
            [r["name"], r["result"], f"{r['nodes_with_result']}/{r['nodes_running']}", r["agreed"]]
            for r in rows
        ],
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--minutes", type=float, default=3.0, help="real minutes to keep starting battles")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--no-skew", action="store_true", help="every clock right")
    parser.add_argument("--json", action="store_true", help="one JSON document on stdout")
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR, format="%(message)s")
    if not args.json:
        logging.getLogger("soak").setLevel(logging.WARNING)
    with tempfile.TemporaryDirectory() as root:
        sets = (
            DjSet(str(write_wav(Path(root) / "a.wav", 8.0, bpm=125.0)), ("A1", "A2"), (0, 4000)),
            DjSet(str(write_wav(Path(root) / "b.wav", 8.0, bpm=131.0)), ("B1",), (0,)),
        )
        started = time.perf_counter()
        report = run_virtual(soak(Path(root), args.seed, args.minutes, not args.no_skew, sets))
        report["wall_s"] = round(time.perf_counter() - started, 1)
    if args.json:
        print(json.dumps(report))
        return
    print(
        f"{report['battles']} battles in {report['wall_s']} s (seed {report['seed']}):"
        f" {report['disagreed']} disagreed, {report['within_f_without_result_everywhere']} within f without"
        f" a result everywhere; faults {report['faults']}"
    )
    print(
        f"rss {report['rss_mb_after_first']} MB after the first battle, {report['rss_mb_end']} MB at the end,"
        f" {report['rss_mb_per_battle_second_half']} MB per battle over the second half"
    )
    for name, row in report["tables"].items():
        bound = "" if row["bound"] is None else f" (bound {row['bound']})"
        print(f"  {name:<34} {row['after_first']:>7} -> {row['end']:>7}{bound}")
    print(f"tasks at the end, by coroutine: {report['tasks_at_end']}")


if __name__ == "__main__":
    main()
