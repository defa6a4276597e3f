"""The silence a listener hears when it leaves a forging relay, by simulation (issue 14).

DJ -> lying relay -> listener (``--chain``: DJ -> liar -> honest relay -> listener), on the in-memory network
of node/sim/network.py (one-way delays of 20-80 ms per host pair) and virtual time, running the real
``Subscription``, ``StreamHub`` and verifier. Once the listener hears the DJ, the relay starts forging every
frame it forwards (tests/helpers/lying_relay.py) at a different point of a segment in each run; the listener
(or, with ``--chain``, the relay above it) leaves it for the DJ. Per run: the longest silence between two
audible frames from the moment the lie starts (20 ms is none), frames concealed meanwhile, and the silence a
sound device fed by that playout plays (``device_gap_ms``: its queue of ``DEVICE_LEAD_S`` ahead rides over shorter
pauses; node/live/device_queue.py; the device starts 2 s or more before the lie). A seed repeats
a run exactly, so a change is measured against the same runs; ``bench/hostile.py`` measures the same move
on real nodes, where the machine's load decides much of the gap.

    .venv/bin/python bench/liar_gap.py --runs 40
    .venv/bin/python bench/liar_gap.py --runs 40 --chain --unverified
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from djmesh.node.clock import VirtualClock, now_us, run_virtual
from djmesh.node.live.sinks import NullSink
from djmesh.node.sim.mesh import LiveMesh, percentile
from djmesh.node.sim.network import LinkProfile, SimNetwork
from tests.helpers.lying_relay import make_liar


def one_run(seed: int, *, chain: bool, verified: bool) -> dict[str, float | int | str]:
    network = SimNetwork(seed, LinkProfile(latency_s=(0.020, 0.080), jitter_s=0.002))
    mesh = LiveMesh(network, seed=seed, max_children=1)  # a chain: each node serves one child
    row: dict[str, float | int | str] = {"seed": seed}

    async def main() -> None:
        await mesh.start_stream()
        nodes = mesh.add_listeners(3 if chain else 2)
        liar, listener = nodes[0], nodes[-1]
        listener.verified_playout = verified
        for node in nodes:
            await mesh.join_all([node], over_s=0.0)
        sub = listener.subscription
        dj_hub = mesh.dj.hub
        if sub is None or sub.hops != len(nodes) or sub.path[-2] != liar.address or dj_hub is None:
            row["skipped"] = "the chain did not form"
            await mesh.close()
            return
        assert liar.subscription is not None
        dj_hub.max_children = 4  # room at the top for whoever leaves the liar
        device = listener.meter.device = NullSink()  # what a sound device plays, from here on
        await asyncio.sleep(2.0 + (seed % 50) * 0.02)  # the lie starts at a different point of a segment
        meter = listener.meter
        meter.mark()
        concealed = meter.concealed
        make_liar(liar.subscription.hub, "forges")
        await asyncio.sleep(5.0)
        leaver = nodes[1].subscription if chain else sub
        row["left"] = int(leaver is not None and leaver.parent_address != liar.address)
        row["gap_ms"] = round(meter.gap_s(now_us()) * 1000, 1)
        row["concealed"] = meter.concealed - concealed
        row["device_gap_ms"] = round(device.device_queue.gap_ms, 1)
        await mesh.close()

    run_virtual(main(), VirtualClock())
    return row


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=40, help="seeds 1..runs")
    parser.add_argument(
        "--chain", action="store_true", help="an honest relay between the liar and the listener"
    )
    parser.add_argument("--unverified", action="store_true", help="play frames before their segment verifies")
    parser.add_argument("--json", action="store_true", help="every run's row too")
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)
    rows = [one_run(seed, chain=args.chain, verified=not args.unverified) for seed in range(1, args.runs + 1)]
    done = [r for r in rows if "gap_ms" in r]
    gaps = [float(r["gap_ms"]) for r in done]
    summary = {
        "runs": len(done),
        "skipped": len(rows) - len(done),
        "left_the_liar": sum(int(r["left"]) for r in done),
        "gap_p50_ms": percentile(gaps, 0.5),
        "gap_p95_ms": percentile(gaps, 0.95),
        "gap_max_ms": max(gaps, default=float("nan")),
        "over_50_ms": sum(1 for g in gaps if g > 50),
        "concealed_frames": sum(int(r["concealed"]) for r in done),
        "device_gap_max_ms": max((float(r["device_gap_ms"]) for r in done), default=float("nan")),
        "device_gaps": sum(1 for r in done if float(r["device_gap_ms"]) > 0),
    }
    print(json.dumps({"summary": summary, **({"rows": rows} if args.json else {})}))


if __name__ == "__main__":
    main()
