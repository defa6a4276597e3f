"""A peer that forwards invalid messages: dropped before forwarding, its score falls, honest traffic flows."""

from __future__ import annotations

import asyncio

from djmesh.node.p2p import GossipConfig, P2PHost
from tests.node.p2p.conftest import run, seed, wait_for

TOPIC = "djmesh/test/room"


def honest(data: bytes, origin: str) -> bool:
    return data.startswith(b"ok:")


def test_invalid_messages_are_not_forwarded_and_cost_score() -> None:
    config = GossipConfig()

    async def main() -> None:
        async with (
            P2PHost(seed=seed(1)) as mallory,
            P2PHost(seed=seed(2)) as bob,
            P2PHost(seed=seed(3)) as carol,
            P2PHost(seed=seed(4)) as alice,
        ):
            # mallory - bob - carol, and alice - bob: everything reaches carol through bob.
            for host in (mallory, carol, alice):
                await host.connect(bob.listen_addrs[0])
            got: dict[str, list[bytes]] = {bob.peer_id: [], carol.peer_id: []}
            await mallory.subscribe(TOPIC, lambda d, p: True, lambda d, p: None)  # mallory checks nothing
            await alice.subscribe(TOPIC, honest, lambda d, p: None)
            for host in (bob, carol):
                await host.subscribe(TOPIC, honest, lambda d, p, me=host.peer_id: got[me].append(d))
            await wait_for(
                lambda: set(bob.mesh_peers(TOPIC)) == {mallory.peer_id, carol.peer_id, alice.peer_id}
            )

            def score_of(peer_id: str) -> float:
                (info,) = [p for p in bob.peers() if p.peer_id == peer_id]
                assert info.score is not None
                return info.score

            await mallory.publish(TOPIC, b"ok:hello")
            await wait_for(lambda: got[carol.peer_id] == [b"ok:hello"])
            before = score_of(mallory.peer_id)

            bad = 12
            for i in range(bad):
                await mallory.publish(TOPIC, b"forged %d" % i)
            await alice.publish(TOPIC, b"ok:from alice")
            await wait_for(lambda: b"ok:from alice" in got[carol.peer_id])
            await asyncio.sleep(0.5)
            # Nothing invalid reached bob's application or crossed bob to carol.
            assert got[carol.peer_id] == [b"ok:hello", b"ok:from alice"]
            assert got[bob.peer_id] == [b"ok:hello", b"ok:from alice"]
            after = score_of(mallory.peer_id)
            assert after < before - bad * config.invalid_message_weight * 0.8
            assert after < config.publish_threshold  # 12 x 5 points: below the publish gate
            assert score_of(alice.peer_id) >= 0

            # Below the publish threshold even mallory's valid messages are ignored by bob...
            await mallory.publish(TOPIC, b"ok:now valid")
            # ...while alice's keep flowing.
            await alice.publish(TOPIC, b"ok:alice again")
            await wait_for(lambda: b"ok:alice again" in got[carol.peer_id])
            await asyncio.sleep(0.5)
            assert b"ok:now valid" not in got[carol.peer_id]

    run(main())


def test_a_flooding_forwarder_is_rate_limited_and_honest_traffic_flows() -> None:
    strict = GossipConfig(max_messages_per_topic_per_second=20.0, publish_rate_per_s=10.0, publish_burst=5)
    flood = GossipConfig(
        max_messages_per_topic_per_second=1000.0, publish_rate_per_s=500.0, publish_burst=500
    )

    async def main() -> None:
        async with (
            P2PHost(seed=seed(1), gossip=flood) as mallory,
            P2PHost(seed=seed(2), gossip=strict) as bob,
            P2PHost(seed=seed(3), gossip=strict) as carol,
            P2PHost(seed=seed(4), gossip=strict) as alice,
        ):
            for host in (mallory, carol, alice):
                await host.connect(bob.listen_addrs[0])
            at_carol: list[bytes] = []
            await mallory.subscribe(TOPIC, lambda d, p: True, lambda d, p: None)
            await alice.subscribe(TOPIC, honest, lambda d, p: None)
            await bob.subscribe(TOPIC, honest, lambda d, p: None)
            await carol.subscribe(TOPIC, honest, lambda d, p: at_carol.append(d))
            await wait_for(
                lambda: set(bob.mesh_peers(TOPIC)) == {mallory.peer_id, carol.peer_id, alice.peer_id}
            )

            flood_size = 150  # valid messages, far above bob's 20 msg/s per forwarder
            for i in range(flood_size):
                await mallory.publish(TOPIC, b"ok:flood %d" % i)
            for i in range(5):
                await alice.publish(TOPIC, b"ok:alice %d" % i)
            await wait_for(lambda: all(b"ok:alice %d" % i in at_carol for i in range(5)))
            await asyncio.sleep(0.5)
            flooded = [d for d in at_carol if d.startswith(b"ok:flood")]
            assert len(flooded) < flood_size // 2, len(flooded)
            (mallory_info,) = [p for p in bob.peers() if p.peer_id == mallory.peer_id]
            assert mallory_info.score is not None and mallory_info.score < 0

    run(main())
