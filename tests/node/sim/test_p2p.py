"""node/sim/p2p.py: real ``Node``s on the in-memory gossip network and virtual time."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from pathlib import Path

import nacl.signing

from djmesh.node.clock import now_ms, run_virtual
from djmesh.node.node import Node, NodeOptions
from djmesh.node.p2p.errors import P2PError
from djmesh.node.sim.network import LinkProfile, SimNetwork
from djmesh.node.sim.p2p import CONNECTION_TIMEOUT_S, SimP2PHost, SimP2PNetwork
from djmesh.protocol import Post, sign
from djmesh.protocol.topics import author_topic
from tests.helpers.network import make_home


async def until(predicate: Callable[[], bool], *, virtual_s: float, what: str) -> None:
    """Wait on virtual time (costs no real time); fail after ``virtual_s`` of it."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + virtual_s
    while not predicate():
        assert loop.time() < deadline, f"no {what} after {virtual_s} virtual seconds"
        await asyncio.sleep(0.05)


def nodes_on(root: Path, net: SimP2PNetwork, names: list[str], first: str | None = None) -> list[Node]:
    boot = [net.address(first)] if first else []
    return [
        Node(
            make_home(root, name), options=NodeOptions(host_factory=net.factory(), bootstrap=boot, listen=[])
        )
        for name in names
    ]


async def hub_and(
    stack: contextlib.AsyncExitStack, root: Path, seed: int, names: list[str]
) -> tuple[SimNetwork, Node, list[Node]]:
    """A bootstrap node and nodes that know it, running on one simulated network."""
    sim = SimNetwork(seed=seed)
    net = SimP2PNetwork(sim, seed=seed)
    (hub,) = nodes_on(root, net, ["hub"])
    await stack.enter_async_context(hub)
    nodes = nodes_on(root, net, names, first=hub.peer_id)
    for node in nodes:
        await stack.enter_async_context(node)
    return sim, hub, nodes


async def hub_alice_and_bob(
    stack: contextlib.AsyncExitStack, root: Path, seed: int
) -> tuple[SimNetwork, Node, Node, Node]:
    sim, hub, (alice, bob) = await hub_and(stack, root, seed, ["alice", "bob"])
    return sim, hub, alice, bob


def test_posts_gossip_through_relays_and_forgeries_stop_at_the_first_hop(tmp_path: Path) -> None:
    async def main() -> None:
        net = SimP2PNetwork(SimNetwork(seed=1, profile=LinkProfile(latency_s=(0.02, 0.08))), seed=1)
        async with contextlib.AsyncExitStack() as stack:
            (hub,) = nodes_on(tmp_path, net, ["hub"])
            await stack.enter_async_context(hub)
            nodes = nodes_on(tmp_path, net, [f"n{i}" for i in range(12)], first=hub.peer_id)
            for node in nodes:
                await stack.enter_async_context(node)
            alice, *others = nodes
            for node in [hub, *others]:
                await node.follow(alice.peer_id)
            await asyncio.sleep(1)
            started = asyncio.get_running_loop().time()
            await alice.post("hello, simulated mesh")
            await until(
                lambda: all("hello, simulated mesh" in [i.text for i in n.feed()] for n in others),
                virtual_s=5,
                what="post everywhere",
            )
            took = asyncio.get_running_loop().time() - started
            assert 0.02 <= took < 2, took  # a few path delays, not real time
            # a forgery naming alice dies at the first hop, and the forwarder is scored down
            mallory_key = nacl.signing.SigningKey(bytes(range(32)))
            mallory = await stack.enter_async_context(SimP2PHost(net, bytes(mallory_key), []))
            topic = author_topic(alice.public_key)
            await mallory.subscribe(topic, lambda data, origin: True, lambda data, origin: None)
            for node in others[:3]:
                await mallory.connect(node.listen_addrs[0])
            now = now_ms()  # the virtual wall clock
            for i in range(10):
                forged = sign(Post(f"forged {i}"), mallory_key, created_at_ms=now).wire
                await mallory.publish(topic, forged.replace(bytes(mallory_key.verify_key), alice.public_key))
            await asyncio.sleep(2)
            assert all(not i.text.startswith("forged") for n in nodes for i in n.feed())
            assert sum(n.dropped.get("BadSignatureError", 0) for n in others[:3]) >= 1
            assert sum(sum(n.dropped.values()) for n in others[3:]) == 0, "never forwarded"
            scores = [p.score for n in others[:3] for p in n.peers() if p.peer_id == mallory.peer_id]
            assert scores == [] or max(s or 0.0 for s in scores) < 0

    run_virtual(main())


def test_a_partition_stops_gossip_and_history_sync_recovers_after_healing(tmp_path: Path) -> None:
    async def main() -> None:
        async with contextlib.AsyncExitStack() as stack:
            sim, hub, alice, bob = await hub_alice_and_bob(stack, tmp_path, seed=2)
            await bob.connect(alice.listen_addrs[0])
            await bob.follow(alice.peer_id)
            await hub.follow(alice.peer_id)
            await asyncio.sleep(1)
            # a short partition only delays: the connection holds and the post arrives after healing
            sim.partition([alice.peer_id, hub.peer_id], [bob.peer_id])
            await alice.post("said during a short partition")
            await asyncio.sleep(5)
            assert "said during a short partition" not in [i.text for i in bob.feed()]
            sim.heal()
            await until(
                lambda: "said during a short partition" in [i.text for i in bob.feed()],
                virtual_s=2,
                what="the held-back post",
            )
            # one longer than the connection timeout closes the connection: what was in flight is lost
            sim.partition([alice.peer_id, hub.peer_id], [bob.peer_id])
            await alice.post("said during the partition")
            await asyncio.sleep(CONNECTION_TIMEOUT_S + 5)
            assert alice.peer_id not in {p.peer_id for p in bob.peers()}
            sim.heal()
            # bob's repair finds alice's topic without peers, looks it up again and syncs what he missed
            await until(
                lambda: "said during the partition" in [i.text for i in bob.feed()],
                virtual_s=20,
                what="the post lost with the connection, synced after healing",
            )
            assert alice.peer_id in {p.peer_id for p in bob.peers()}

    run_virtual(main())


def test_a_node_whose_lookup_failed_finds_the_topics_peers_again_within_seconds(tmp_path: Path) -> None:
    """A first lookup that fails (here its dial outlasts the connection timeout) is tried again within
    seconds of the peer becoming reachable, not at the next minute's repair round."""

    async def main() -> None:
        async with contextlib.AsyncExitStack() as stack:
            sim, hub, alice, bob = await hub_alice_and_bob(stack, tmp_path, seed=3)
            topic = author_topic(alice.public_key)
            sim.partition([alice.peer_id], [bob.peer_id, hub.peer_id])
            await bob.follow(alice.peer_id)  # its lookup finds alice but cannot reach her: the dial times out
            await alice.post("said while bob could not reach me")
            await asyncio.sleep(CONNECTION_TIMEOUT_S + 5)
            assert not bob.host.mesh_peers(topic)
            sim.heal()
            healed = asyncio.get_running_loop().time()
            await until(
                lambda: "said while bob could not reach me" in [i.text for i in bob.feed()],
                virtual_s=20,
                what="alice's post after the partition healed",
            )
            assert bob.host.mesh_peers(topic) == [alice.peer_id]
            took = asyncio.get_running_loop().time() - healed
            assert took < 20, took  # the repair round alone would have waited a minute

    run_virtual(main())


def test_a_node_that_cannot_advertise_still_finds_the_topics_peers(tmp_path: Path) -> None:
    """Advertising failed (its rendezvous point timed out): the lookup of who else is there goes ahead."""

    async def main() -> None:
        async with contextlib.AsyncExitStack() as stack:
            _sim, _hub, alice, bob = await hub_alice_and_bob(stack, tmp_path, seed=4)

            async def refused(namespace: str) -> None:
                raise P2PError(f"could not advertise {namespace!r}: rendezvous timed out")

            bob.host.advertise = refused  # type: ignore[method-assign]
            await alice.post("hello from alice")
            await bob.follow(alice.peer_id)
            await until(
                lambda: "hello from alice" in [i.text for i in bob.feed()],
                virtual_s=10,
                what="alice's post at bob, whose advertising fails",
            )

    run_virtual(main())


def test_a_message_that_gossip_never_delivered_reaches_meshed_nodes_by_anti_entropy(tmp_path: Path) -> None:
    """Bob and carol follow alice and stay meshed with each other, so their topic never looks lonely
    and no repair runs; alice posts while cut off from everyone. After healing, gossip never resends it
    (it left the message cache long ago): the periodic reconciliation with a mesh peer brings it."""

    async def main() -> None:
        async with contextlib.AsyncExitStack() as stack:
            sim, hub, (alice, bob, carol) = await hub_and(stack, tmp_path, 5, ["alice", "bob", "carol"])
            topic = author_topic(alice.public_key)
            for node in (bob, carol):
                await node.follow(alice.peer_id)
            await until(lambda: bob.host.mesh_peers(topic) and carol.host.mesh_peers(topic), virtual_s=30,
                        what="a mesh on alice's topic")  # fmt: skip
            sim.partition([alice.peer_id], [bob.peer_id, carol.peer_id, hub.peer_id])
            await alice.post("said while nobody could hear me")
            await asyncio.sleep(CONNECTION_TIMEOUT_S + 5)  # the connections close, losing the post
            assert alice.peer_id not in {p.peer_id for p in bob.peers()}
            assert bob.host.mesh_peers(topic) == [carol.peer_id]  # not lonely: no repair looks it up
            sim.heal()
            await until(
                lambda: all(
                    "said while nobody could hear me" in [i.text for i in n.feed()] for n in (bob, carol)
                ),
                virtual_s=180,
                what="alice's post at bob and carol",
            )

    run_virtual(main())


def test_a_post_made_before_the_author_had_a_mesh_goes_out_again_once_it_has_one(tmp_path: Path) -> None:
    """A DJ who challenges right after starting has no mesh yet: gossip took the message nowhere. The
    author publishes it once more as soon as its topic's mesh fills, seconds later, not at the next
    reconciliation (30 s)."""

    async def main() -> None:
        async with contextlib.AsyncExitStack() as stack:
            sim, hub, (alice, bob, carol) = await hub_and(stack, tmp_path, 6, ["alice", "bob", "carol"])
            sim.partition([alice.peer_id], [bob.peer_id, carol.peer_id, hub.peer_id])
            topic = author_topic(alice.public_key)
            await alice.post("said before anyone could hear me")
            assert not alice.host.mesh_peers(topic)
            for node in (bob, carol):
                await node.follow(alice.peer_id)  # their lookups cannot reach alice yet
            await until(
                lambda: bob.host.mesh_peers(topic) == [carol.peer_id], virtual_s=30, what="bob-carol mesh"
            )
            await asyncio.sleep(CONNECTION_TIMEOUT_S + 5)  # their dials to alice time out
            assert "said before anyone could hear me" not in [i.text for i in bob.feed()]
            sim.heal()
            await until(lambda: len(alice.host.mesh_peers(topic)) >= 1, virtual_s=120, what="alice's mesh")
            meshed = asyncio.get_running_loop().time()
            await until(
                lambda: all(
                    "said before anyone could hear me" in [i.text for i in n.feed()] for n in (bob, carol)
                ),
                virtual_s=60,
                what="alice's early post at bob and carol",
            )
            took = asyncio.get_running_loop().time() - meshed
            assert took < 5, took

    run_virtual(main())
