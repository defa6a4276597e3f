"""Chaos scenarios on a simulated network (node/sim/), deterministic from --seed.

The live-mesh scenarios (node/sim/scenarios.py): a relay tree of 60 listeners (4 children per relay, so
the tree is 3 deep) under 5 / 10 / 20 % datagram loss with 50-200 ms round trips, 20 % of the relays
dying at once (with and without loss), and a subtree cut off by a partition for 3 s. Every listener runs
the real ``Subscription`` / ``StreamHub`` code on the in-memory network and virtual time.

The battle scenarios (node/sim/battles.py): whole battles between real nodes (two DJs, six viewers, a
committee of 4, the real judge) on the in-memory gossip network and live mesh, one fault each, placed
against the battle's deadlines: a viewer cut off around join_by, a member cut off as members commit and
around the commit deadline, a member crashing right after its commit and restarting, DJ B crashing
mid-set, a member's disk filling up, and a third of the nodes with wall clocks off (by up to 2 s; by 30 s
to 3 min: each simulated node reads its own clock, node/clock.py ``SkewedClock``). ``agreed``: no two
nodes count different results; ``within_f``: the fault touched at most f members (a member off by more
than 5 s counts as faulty). No ledger in these runs: ``money_lost_wei`` is None.

The ledger scenarios (node/sim/ledger.py): the same battles with a prize escrow on a real EVM (py-evm in
this process) and the escrow service on every node; on the DJs' way to the chain, the payout (or, when
no member attests, the refunds after the deadline) is mined and then reorganised away before its answer
is lost, or the RPC node refuses twice before an answer is lost. ``money_lost_wei``: of the wei staked,
what neither reached the winner nor went back to its staker, from the chain's Paid and Refunded events
(``payouts``/``refunds`` count them: one payout, or one refund per staker, and nothing left in escrow).

The long run, battles back to back on the same nodes with random faults: bench/soak.py.

Output: {"scenarios": [{"name", "battles", "agreed", "within_f", "money_lost_wei", "audio_gap_s", ...}]}
  audio_gap_s       the longest silence (between two audible frames) any surviving listener heard
                    in the scenario's window; audio_gap_p95_s the 95th percentile over listeners
  concealed_pct     playout frames concealed (not there by their playout time)
  record_lost_pct   frames missing from the verified, signed record (what the judge analyses)
  still_silent      listeners not hearing the stream at the end of the window

    .venv/bin/python bench/chaos.py --seed 1 --json
    .venv/bin/python bench/chaos.py --seed 2 --only loss
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from djmesh.node.battle.service import DjSet
from djmesh.node.clock import VirtualClock, run_virtual
from djmesh.node.sim.battles import BATTLE_SCENARIOS, run_battle_scenario, sim_rules
from djmesh.node.sim.ledger import LEDGER_SCENARIOS, run_ledger_scenario
from djmesh.node.sim.scenarios import LIVE_SCENARIOS, run_live_scenario
from tests.helpers.sets import write_wav


def scenario_sets(root: Path) -> tuple[DjSet, DjSet]:
    """The two short sets every battle scenario plays: DJ A two tracks at 125 BPM, DJ B one at 131."""
    return (
        DjSet(str(write_wav(root / "a.wav", 8.0, bpm=125.0)), ("A1", "A2"), (0, 4000)),
        DjSet(str(write_wav(root / "b.wav", 8.0, bpm=131.0)), ("B1",), (0,)),
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", action="store_true", help="one JSON document on stdout")
    parser.add_argument("--only", default="", help="run the scenarios whose name contains this")
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)
    rows = []
    for name, fault in BATTLE_SCENARIOS:
        if args.only not in name:
            continue
        started = time.perf_counter()
        with tempfile.TemporaryDirectory() as root:
            sets = scenario_sets(Path(root))
            row = run_virtual(
                run_battle_scenario(name, fault, args.seed, Path(root) / "nodes", sets, sim_rules())
            )
        row["wall_s"] = round(time.perf_counter() - started, 1)
        rows.append(row)
        if not args.json:
            print(
                f"{row['name']:<56} agreed {row['agreed']}, within f {row['within_f']}, result {row['result']}"
                f" at {row['nodes_with_result']}/{row['nodes_running']} nodes,"
                f" {row['result_after_sets_s']} s after the sets, offences {row['offences']}",
                flush=True,
            )
    for ledger in LEDGER_SCENARIOS:
        if args.only not in ledger.name:
            continue
        started = time.perf_counter()
        with tempfile.TemporaryDirectory() as root:
            sets = scenario_sets(Path(root))
            row = run_virtual(run_ledger_scenario(ledger, args.seed, Path(root) / "nodes", sets))
        row["wall_s"] = round(time.perf_counter() - started, 1)
        rows.append(row)
        if not args.json:
            print(
                f"{row['name']:<68} money lost {row['money_lost_wei']} wei: {row['payouts']} payout(s)"
                f" {row['paid_wei']} wei, {row['refunds']} refund(s) {row['refunded_wei']} wei of"
                f" {row['staked_wei']} staked, {row['left_in_escrow_wei']} wei left in escrow;"
                f" faulty calls {row['faulty_calls']}",
                flush=True,
            )
    for scenario in LIVE_SCENARIOS:
        if args.only not in scenario.name:
            continue
        started = time.perf_counter()
        row = run_virtual(run_live_scenario(scenario, args.seed), VirtualClock())
        row["wall_s"] = round(time.perf_counter() - started, 1)
        rows.append(row)
        if not args.json:
            print(
                f"{row['name']:<48} gap max {row['audio_gap_s']} s (p95 {row['audio_gap_p95_s']} s),"
                f" concealed {row['concealed_pct']} %, record lost {row['record_lost_pct']} %,"
                f" {row['still_silent']} still silent, p95 latency {row['p95_latency_ms']:.0f} ms",
                flush=True,
            )
    if args.json:
        print(json.dumps({"seed": args.seed, "scenarios": rows}))


if __name__ == "__main__":
    main()
