"""Nodes that know only a bootstrap find each other per namespace and gossip; the bootstrap serves cleanly."""

from __future__ import annotations

import asyncio

import pytest

from djmesh.bootstrap.server import run_bootstrap
from djmesh.node.p2p import P2PError, P2PHost
from djmesh.node.p2p import discovery as discovery_module
from tests.node.p2p.conftest import run, seed, wait_for

ROOM = "djmesh/room/battle-1"


async def _start_bootstrap(key: int) -> tuple[asyncio.Task[None], list[str]]:
    ready: asyncio.Future[list[str]] = asyncio.get_running_loop().create_future()
    task = asyncio.create_task(run_bootstrap(seed(key), ["/ip4/127.0.0.1/tcp/0"], ready.set_result))
    return task, await asyncio.wait_for(ready, 30)


async def _stop(task: asyncio.Task[None]) -> None:
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


def test_nodes_discover_each_other_through_a_bootstrap_and_gossip() -> None:
    async def main() -> None:
        boot, addrs = await _start_bootstrap(99)
        (addr,) = addrs
        assert addr.startswith("/ip4/127.0.0.1/tcp/") and "/p2p/12D3KooW" in addr
        nodes = [P2PHost(seed=seed(i), bootstrap=addrs) for i in range(1, 5)]
        try:
            for node in nodes:
                await node.start()
            # Each node holds a relay reservation at the bootstrap (circuit relay v2).
            assert all(node._discovery is not None and node._discovery.relay.reservations for node in nodes)
            got: dict[str, list[tuple[bytes, str]]] = {node.peer_id: [] for node in nodes}
            for node in nodes:
                await node.subscribe(
                    ROOM, lambda d, p: True, lambda d, p, me=node.peer_id: got[me].append((d, p))
                )
                await node.advertise(ROOM)
            ids = {node.peer_id for node in nodes}
            for node in nodes:
                found = await node.discover(ROOM)
                assert set(found) <= ids - {node.peer_id}
            # Everyone ends up connected to everyone in the room, not just to the bootstrap.
            for node in nodes:
                await wait_for(lambda node=node: len(node.mesh_peers(ROOM)) == 3)
            await nodes[0].publish(ROOM, b"drop the beat")
            for node in nodes[1:]:
                await wait_for(lambda node=node: got[node.peer_id] == [(b"drop the beat", nodes[0].peer_id)])
            with pytest.raises(P2PError, match="namespace"):
                await nodes[0].advertise("")
        finally:
            for node in nodes:
                await node.stop()
            await _stop(boot)

    run(main())


def test_dht_provider_records_alone_are_enough(monkeypatch: pytest.MonkeyPatch) -> None:
    """With rendezvous unavailable, nodes still find each other through the bootstrap's DHT."""
    original = discovery_module.Discovery._protocols_of

    async def without_rendezvous(self: discovery_module.Discovery, pid: object) -> set[str]:
        return {p for p in await original(self, pid) if "rendezvous" not in p}  # type: ignore[arg-type]

    monkeypatch.setattr(discovery_module.Discovery, "_protocols_of", without_rendezvous)

    async def main() -> None:
        boot, addrs = await _start_bootstrap(98)
        nodes = [P2PHost(seed=seed(i), bootstrap=addrs) for i in range(11, 14)]
        try:
            for node in nodes:
                await node.start()
                await node.advertise("djmesh/room/dht-only")
            found = await nodes[0].discover("djmesh/room/dht-only")
            assert set(found) == {nodes[1].peer_id, nodes[2].peer_id}
        finally:
            for node in nodes:
                await node.stop()
            await _stop(boot)

    run(main())


def test_unreachable_bootstrap_is_not_fatal() -> None:
    async def main() -> None:
        dead = "/ip4/127.0.0.1/tcp/9/p2p/12D3KooWRndVhVZPCiQwHBBBdg769GyrPUW13zxwqQyf9r3ANaba"
        async with P2PHost(seed=seed(1), bootstrap=[dead]) as node:
            assert node.peers() == []
            with pytest.raises(P2PError, match="could not advertise"):
                await node.advertise(ROOM)
            assert await node.discover(ROOM) == []

    run(main())


def test_a_node_is_reachable_through_its_relay_reservation() -> None:
    async def echo(data: bytes, peer: str) -> bytes:
        return b"relayed:" + data

    async def main() -> None:
        boot, addrs = await _start_bootstrap(97)
        behind_nat = P2PHost(seed=seed(21), bootstrap=addrs)
        dialer = P2PHost(seed=seed(22), bootstrap=addrs)
        try:
            await behind_nat.start()
            await dialer.start()
            behind_nat.set_request_handler("/djmesh/test/echo/1", echo)
            (circuit,) = behind_nat.relay_addrs
            assert "/p2p-circuit/p2p/" + behind_nat.peer_id in circuit
            assert await dialer.connect(circuit) == behind_nat.peer_id
            reply = await dialer.request(behind_nat.peer_id, "/djmesh/test/echo/1", b"hi")
            assert reply == b"relayed:hi"
        finally:
            await dialer.stop()
            await behind_nat.stop()
            await _stop(boot)

    run(main())
