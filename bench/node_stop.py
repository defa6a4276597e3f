"""Seconds to stop N connected nodes in one process, one after another and side by side.

    .venv/bin/python bench/node_stop.py [--nodes 7] [--runs 3] [--json]

Each run starts N nodes on loopback (a bootstrap server, then each node with a LiveService and a
BattleService, as the multi-node tests run them), waits until every node has a peer in the battles mesh,
then stops them. The reference row stops them one after another, as an exit stack does; the other row
stops them all at once (``asyncio.gather``, as tests/helpers/network.PeerStacks does). Stopping one
after another, every node still up reacts to each departure in the one shared trio run, so the cost
grows with the nodes left. Wall and CPU seconds (this process: every node is in it) are the medians
over the runs; the load average is printed with them, as a busy machine stretches both.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import statistics
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import nacl.signing

from djmesh.bootstrap.server import run_bootstrap
from djmesh.node.battle.service import BattleService
from djmesh.node.config import NodeConfig
from djmesh.node.home import NodeHome
from djmesh.node.identity import create_identity
from djmesh.node.live.service import LiveService
from djmesh.node.node import Node, NodeOptions
from djmesh.protocol.battle import BATTLES_TOPIC

LOOPBACK = "/ip4/127.0.0.1/tcp/0"


def make_node(root: Path, name: str, bootstrap: list[str]) -> Node:
    home = NodeHome(root / name)
    home.ensure()
    seed = nacl.signing.SigningKey(name.encode().ljust(32, b"\0")[:32])
    create_identity(home.key_file, seed=bytes(seed))
    home.config_file.write_text(NodeConfig(name=name).to_toml())
    return Node(home, options=NodeOptions(listen=[LOOPBACK], bootstrap=bootstrap))


@contextlib.asynccontextmanager
async def bootstrap_server() -> AsyncIterator[list[str]]:
    ready: asyncio.Future[list[str]] = asyncio.get_running_loop().create_future()
    task = asyncio.ensure_future(run_bootstrap(bytes(32), [LOOPBACK], ready.set_result))
    try:
        yield await asyncio.wait_for(ready, 60)
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def wait_meshed(nodes: list[Node], timeout_s: float = 120.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not all(node.host.mesh_peers(BATTLES_TOPIC) for node in nodes):
        if time.monotonic() > deadline:
            raise SystemExit(f"the {len(nodes)} nodes formed no battles mesh in {timeout_s:.0f} s")
        await asyncio.sleep(0.1)


async def one_run(nodes: int, together: bool) -> tuple[float, float]:
    """(wall, CPU) seconds to stop ``nodes`` started, meshed nodes."""
    with tempfile.TemporaryDirectory() as root:
        async with bootstrap_server() as boot:
            stacks: list[contextlib.AsyncExitStack] = []
            started = []
            try:
                for i in range(nodes):
                    stack = contextlib.AsyncExitStack()
                    stacks.append(stack)
                    node = await stack.enter_async_context(make_node(Path(root), f"peer-{i}", boot))
                    live = await stack.enter_async_context(LiveService(node))
                    await stack.enter_async_context(BattleService(node, live, auto_join=True))
                    started.append(node)
                await wait_meshed(started)
                await asyncio.sleep(1.0)  # let discovery and the first heartbeats settle
            finally:
                wall, cpu = time.monotonic(), time.process_time()
                if together:
                    await asyncio.gather(*(stack.aclose() for stack in reversed(stacks)))
                else:
                    for stack in reversed(stacks):
                        await stack.aclose()
                wall, cpu = time.monotonic() - wall, time.process_time() - cpu
    return wall, cpu


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=7, help="nodes per run (default 7, as the escrow tests)")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    rows: list[dict[str, Any]] = []
    for label, together in (("one after another (reference)", False), ("side by side", True)):
        runs = [asyncio.run(one_run(args.nodes, together)) for _ in range(args.runs)]
        rows.append(
            {
                "stop": label,
                "wall_s": round(statistics.median(w for w, _ in runs), 2),
                "cpu_s": round(statistics.median(c for _, c in runs), 2),
                "runs_wall_s": [round(w, 2) for w, _ in runs],
            }
        )
    if args.json:
        print(json.dumps({"nodes": args.nodes, "load": os.getloadavg()[0], "rows": rows}, indent=2))
        return 0
    print(f"{args.nodes} nodes, {args.runs} runs each; load average {os.getloadavg()[0]:.2f}\n")
    print(f"{'stop':<32}{'wall s':>8}{'CPU s':>8}  runs (wall s)")
    for row in rows:
        print(f"{row['stop']:<32}{row['wall_s']:>8}{row['cpu_s']:>8}  {row['runs_wall_s']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
