"""Gossip to many nodes by simulation: real ``Node``s (store, inbox, validation, history sync) on the in-memory
gossip network (djmesh.node.sim.p2p) and virtual time, so a thousand nodes fit one process and a run repeats.

Each node starts with one of ``--hubs`` bootstrap nodes and finds the author's followers through the shared
rendezvous registry (as the bootstrap's rendezvous point gives them), links of 20-80 ms one way. Every node
follows one author; the author posts ``--posts`` messages a second apart. Printed per run: how many nodes got
each post, and the delivery delay p50/p95/max from the post to its storage at each follower (virtual time).
The reference beside it is the lower bound a user would compare with: the path delay from the author to each
node along the shortest path of the same graph (what a perfect flood with no validation would achieve).

    .venv/bin/python bench/gossip_scale.py --nodes 1000 --json
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import heapq
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from djmesh.node.clock import run_virtual
from djmesh.node.events import MessageStored
from djmesh.node.node import Node, NodeOptions
from djmesh.node.sim.network import LinkProfile, SimNetwork
from djmesh.node.sim.p2p import SimP2PNetwork
from tests.helpers.network import make_home


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * share))]


def shortest_paths(net: SimP2PNetwork, source: str) -> dict[str, float]:
    """One-way delay along the fastest path of the connection graph (Dijkstra)."""
    best = {source: 0.0}
    queue = [(0.0, source)]
    while queue:
        delay, peer = heapq.heappop(queue)
        if delay > best.get(peer, float("inf")):
            continue
        for other in net.hosts[peer].connected:
            through = delay + net.network.one_way_s(peer, other)
            if through < best.get(other, float("inf")):
                best[other] = through
                heapq.heappush(queue, (through, other))
    return best


async def run(nodes: int, hubs: int, posts: int, seed: int, root: Path) -> dict[str, Any]:
    loop = asyncio.get_running_loop()
    net = SimP2PNetwork(SimNetwork(seed, LinkProfile(latency_s=(0.02, 0.08))), seed=seed)
    started_real = time.perf_counter()
    async with contextlib.AsyncExitStack() as stack:
        hub_nodes = []
        for index in range(hubs):
            hub = Node(
                make_home(root, f"hub{index}"), options=NodeOptions(host_factory=net.factory(), listen=[])
            )
            hub_nodes.append(await stack.enter_async_context(hub))
        author = Node(
            make_home(root, "author"),
            options=NodeOptions(
                host_factory=net.factory(), listen=[], bootstrap=[hub_nodes[0].listen_addrs[0]]
            ),
        )
        await stack.enter_async_context(author)
        received: dict[str, dict[str, float]] = {}  # post text -> follower -> virtual time stored
        followers = []
        for index in range(nodes):
            hub = hub_nodes[index % hubs]
            node = Node(
                make_home(root, f"n{index}"),
                options=NodeOptions(host_factory=net.factory(), listen=[], bootstrap=[hub.listen_addrs[0]]),
            )
            await stack.enter_async_context(node)
            await node.follow(author.peer_id)  # joins the author's topic, advertises and discovers it
            followers.append(node)

            async def watch(node: Node = node) -> None:
                async for event in node.events():
                    if isinstance(event, MessageStored) and event.envelope.author == author.public_key:
                        text = getattr(event.envelope.message, "text", "")
                        received.setdefault(text, {})[node.peer_id] = loop.time()

            stack.push_async_callback(_cancel, asyncio.ensure_future(watch()))
        await asyncio.sleep(10)  # meshes settle
        built_real = time.perf_counter() - started_real
        sent_at: dict[str, float] = {}
        for index in range(posts):
            text = f"post {index}"
            sent_at[text] = loop.time()
            await author.post(text)
            await asyncio.sleep(1.0)
        await asyncio.sleep(10)
        paths = shortest_paths(net, author.peer_id)
        degree = statistics.mean(len(net.hosts[f.peer_id].connected) for f in followers)
    delays = [t - sent_at[text] for text, got in received.items() if text in sent_at for t in got.values()]
    ideal = [paths[f.peer_id] for f in followers if f.peer_id in paths]
    coverage = [len(received.get(text, {})) for text in sent_at]
    return {
        "nodes": nodes,
        "hubs": hubs,
        "posts": posts,
        "delivered_min": min(coverage),
        "delivered_mean": round(statistics.mean(coverage), 1),
        "p50_ms": round(1000 * statistics.median(delays), 1) if delays else None,
        "p95_ms": round(1000 * percentile(delays, 0.95), 1) if delays else None,
        "max_ms": round(1000 * max(delays), 1) if delays else None,
        "shortest_path_p50_ms": round(1000 * statistics.median(ideal), 1),
        "shortest_path_p95_ms": round(1000 * percentile(ideal, 0.95), 1),
        "mean_degree": round(degree, 1),
        "messages_sent": net.messages_sent,
        "setup_real_s": round(built_real, 1),
        "real_s": round(time.perf_counter() - started_real, 1),
    }


async def _cancel(task: asyncio.Future[Any]) -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--nodes", type=lambda text: [int(n) for n in text.split(",")], default=[100, 1000])
    parser.add_argument("--hubs", type=int, default=4)
    parser.add_argument("--posts", type=int, default=5)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    rows = []
    for count in args.nodes:
        with tempfile.TemporaryDirectory() as root:
            rows.append(run_virtual(run(count, args.hubs, args.posts, args.seed, Path(root))))
        if not args.json:
            row = rows[-1]
            print(
                f"{row['nodes']:>6} nodes: delivered {row['delivered_min']}-{row['delivered_mean']} of {count};"
                f" delay p50 {row['p50_ms']} ms, p95 {row['p95_ms']} ms, max {row['max_ms']} ms"
                f" (shortest path p50 {row['shortest_path_p50_ms']}, p95 {row['shortest_path_p95_ms']});"
                f" degree {row['mean_degree']}; {row['real_s']} s real",
                flush=True,
            )
    if args.json:
        print(json.dumps({"rows": rows}, indent=2))


if __name__ == "__main__":
    main()
