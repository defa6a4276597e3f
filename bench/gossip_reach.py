"""Does one battle announcement reach every node? N real nodes (libp2p, GossipSub, the battle service) in one
process on loopback; one of them challenges another; how many hold the battle, and when.

Many nodes in one process (one trio guest run) is the harshest case for the node's tick budget: every tick runs
the whole process's libp2p work. Before the budget was bounded (issue 17, 2026-12-06), 5-12 of 30 nodes never got
the announcement although their mesh peers had sent it to them.

    .venv/bin/python bench/gossip_reach.py --nodes 30
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from djmesh.node.battle.service import BattleService, DjSet
from djmesh.node.live.service import LiveService
from djmesh.protocol.battle import BATTLES_TOPIC, Rules
from tests.helpers.network import bootstrap_server, make_node, peer_stacks
from tests.helpers.sets import write_wav


async def reach(nodes: int, wait_s: float) -> dict[str, object]:
    root = Path(tempfile.mkdtemp(prefix="djmesh-gossip-reach-"))
    async with bootstrap_server() as boot, peer_stacks() as stacks:
        peers: list[BattleService] = []
        for i in range(nodes):
            stack = stacks.peer()
            node = await stack.enter_async_context(make_node(root, f"n{i}", boot))
            live = await stack.enter_async_context(LiveService(node))
            peers.append(await stack.enter_async_context(BattleService(node, live)))
        started = time.monotonic()
        while not all(p.node.host.mesh_peers(BATTLES_TOPIC) for p in peers):
            if time.monotonic() - started > 60:
                break
            await asyncio.sleep(0.5)
        meshed_s = time.monotonic() - started
        my_set = DjSet(str(write_wav(root / "a.wav", 8.0, bpm=125.0)), ("A1",), (0,))
        rules = Rules.for_genre("house", tracks=1, set_seconds=10)
        battle = await peers[0].announce(peers[1].node.peer_id, my_set, rules=rules, start_in_s=wait_s + 60)
        sent = time.monotonic()
        arrived: dict[int, float] = {}
        while len(arrived) < nodes and time.monotonic() - sent < wait_s:
            for i, p in enumerate(peers):
                if i not in arrived and battle in p.battles:
                    arrived[i] = time.monotonic() - sent
            await asyncio.sleep(0.1)
        times = sorted(arrived.values())
        return {
            "nodes": nodes,
            "meshed_s": round(meshed_s, 1),
            "reached": len(arrived),
            "last_s": round(times[-1], 2) if times else None,
            "lacking": [i for i in range(nodes) if i not in arrived],
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=30)
    parser.add_argument("--wait", type=float, default=30.0, help="seconds to wait for the announcement")
    args = parser.parse_args()
    print(asyncio.run(reach(args.nodes, args.wait)))


if __name__ == "__main__":
    main()
