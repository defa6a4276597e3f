"""Scale by simulation: one live stream to N listeners running the real relay-tree code in one process.

Every listener is a real ``Subscription`` (probes, join and redirects, NACK recovery, re-parenting)
with its real ``StreamHub`` and the live service's acceptor, on the in-memory network of
node/sim/network.py and virtual time (node/clock.py): a simulated second costs only the CPU the
listeners' code uses, and a seed repeats a run exactly. See node/sim/mesh.py for what stands in
for the rest of a node (the DJ's capture, libp2p's locate).

Per listener count, one run:
  1. the DJ goes live (20 ms frames of 320 bytes, as Opus at 128 kbit/s; signed 1 s segments);
  2. the listeners arrive at uniformly random times within --join-over seconds and join as
     ``LiveService`` does (locate through the DJ and 6 connected peers, then probe and join,
     following redirects down the tree; every node relays to at most 8 children);
  3. after --settle seconds, capture -> playout latency of every played frame for --measure seconds;
  4. 10 % of the listeners that relay to someone crash at once (they go silent: no goodbye);
     for each listener below them, the longest silence (between two audible frames) within
     --recover seconds is its recovery time.

Links: a fixed one-way delay per host pair, uniform in 20-80 ms (so round trips of 40-160 ms),
plus --jitter; no loss unless --loss. Each node's own handling of a packet it sends (0.1-0.9 ms) and the DJ's
capture -> send (0.5-2.5 ms) as measured on real processes (node/sim/mesh.py ``REAL_HOP_S``, ``REAL_SOURCE_S``).
Rows:
  {"listeners", "p95_latency_ms", "max_depth", "join_p95_s", "recovery_p95_s", ...}
join_p95_s: from starting to subscribe to the first audible frame. Extra fields: p50 latency,
how many joined / failed, relays, failed relays, listeners affected, still silent at the end,
the longest recovery, simulated and wall seconds.

    .venv/bin/python bench/scale.py --listeners 1000,10000 --json
    .venv/bin/python bench/scale.py --listeners 200 --seed 2
    .venv/bin/python bench/scale.py --calibrate   # the sim against bench/stream.py's real 3-node figures
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from djmesh.node.clock import VirtualClock, now_us, run_virtual
from djmesh.node.sim.mesh import (
    LATENCY_BINS_MS,
    REAL_HOP_S,
    REAL_SOURCE_S,
    LiveMesh,
    ScaleRun,
    histogram_percentile,
    run_scale,
)
from djmesh.node.sim.network import LinkProfile, SimNetwork

GOALS = {"p95_latency_ms": {1000: 250, 10000: 350}, "recovery_p95_s": 2.0}


def one(listeners: int, args: argparse.Namespace) -> dict[str, float | int]:
    run = ScaleRun(
        listeners,
        seed=args.seed,
        join_over_s=args.join_over,
        settle_s=args.settle,
        measure_s=args.measure,
        recover_s=args.recover,
        max_children=args.max_children,
        source_s=REAL_SOURCE_S,
    )
    profile = LinkProfile(
        latency_s=(0.020, 0.080), jitter_s=args.jitter / 1000, loss=args.loss, hop_s=REAL_HOP_S
    )
    clock = VirtualClock()
    started = time.perf_counter()
    row = run_virtual(run_scale(run, SimNetwork(args.seed, profile)), clock)
    row["sim_s"] = round(clock.now(), 1)
    row["wall_s"] = round(time.perf_counter() - started, 1)
    return row


async def calibrate() -> dict[str, float | int]:
    """bench/stream.py's 1-hop and re-parent rows, simulated: DJ -> relay -> listener on loopback-like links.

    As there, the DJ's budget is 1 while the listener joins (so it goes via the relay) and 2 after;
    then the relay dies. Compare with BENCHMARKS.md's real figures (1 hop p50 4.4 ms, gap 641 ms).
    """
    network = SimNetwork(1, LinkProfile(latency_s=(0.00005, 0.0001), hop_s=REAL_HOP_S))
    mesh = LiveMesh(network, seed=1, max_children=4, source_s=REAL_SOURCE_S)
    await mesh.start_stream()
    assert mesh.dj.hub is not None
    relay, listener = mesh.add_listeners(2)
    await mesh.join_all([relay], over_s=0.0)
    mesh.dj.hub.max_children = 1
    await mesh.join_all([listener], over_s=0.0)
    await asyncio.sleep(2.0)
    histogram = [0] * LATENCY_BINS_MS
    mesh.latency_ms = histogram
    await asyncio.sleep(5.0)
    mesh.latency_ms = None
    assert listener.subscription is not None
    hops_before = listener.subscription.hops
    mesh.dj.hub.max_children = 2
    listener.meter.mark()
    await mesh.crash([relay])
    await asyncio.sleep(3.0)
    return {
        "one_hop_p50_ms": histogram_percentile(histogram, 0.5),
        "one_hop_p95_ms": histogram_percentile(histogram, 0.95),
        "reparent_gap_ms": round(listener.meter.gap_s(now_us()) * 1000, 1),
        "hops_before": hops_before,
        "hops_after": listener.subscription.hops,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--listeners", default="1000,10000", help="comma-separated listener counts")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", action="store_true", help="one JSON object per line")
    parser.add_argument("--join-over", type=float, default=4.0, help="listeners arrive within this many s")
    parser.add_argument("--settle", type=float, default=1.5)
    parser.add_argument("--measure", type=float, default=1.5)
    parser.add_argument("--recover", type=float, default=4.0)
    parser.add_argument("--jitter", type=float, default=2.0, help="per-packet jitter, ms (uniform 0..this)")
    parser.add_argument("--loss", type=float, default=0.0, help="datagram loss probability")
    parser.add_argument("--max-children", type=int, default=8)
    parser.add_argument(
        "--calibrate",
        action="store_true",
        help="only the 3-node check against bench/stream.py's real figures",
    )
    args = parser.parse_args()
    if args.calibrate:
        print(json.dumps(run_virtual(calibrate(), VirtualClock())))
        return
    logging.basicConfig(level=logging.ERROR, format="%(asctime)s %(message)s")
    logging.getLogger("djmesh.node.sim.mesh").setLevel(logging.INFO)  # progress, on stderr
    for count in (int(part) for part in args.listeners.split(",") if part.strip()):
        row = one(count, args)
        if args.json:
            print(json.dumps(row), flush=True)
            continue
        goal = GOALS["p95_latency_ms"].get(count)
        print(
            f"{count:>6} listeners: p95 latency {row['p95_latency_ms']:.0f} ms"
            f" (goal {goal if goal else '-'}), depth {row['max_depth']}, join p95 {row['join_p95_s']:.2f} s,"
            f" recovery p95 {row['recovery_p95_s']:.2f} s (goal {GOALS['recovery_p95_s']}),"
            f" {row['unrecovered']} of {row['affected']} still silent; {row['wall_s']:.0f} s wall",
            flush=True,
        )


if __name__ == "__main__":
    main()
