"""P2PHost lifecycle, identity, gossip with validators, and the plaintext refusal, on real loopback hosts."""

from __future__ import annotations

import asyncio

import libp2p.pubsub.pubsub as pubsub_module
import nacl.signing
import pytest
import trio
from libp2p.peer.id import ID
from libp2p.pubsub.pb import rpc_pb2

from djmesh.node.identity import Identity
from djmesh.node.p2p import GossipConfig, P2PError, P2PHost, trio_bridge
from djmesh.node.p2p.gossip import OUTBOUND_QUEUE_RPCS, DeeperRpcQueue, GossipCounters, build_router
from tests.node.p2p.conftest import run, seed, sender_and_receiver, wait_for

TOPIC = "djmesh/test/chat"


def test_peer_id_is_the_node_identity_and_addrs_are_real() -> None:
    async def main() -> None:
        identity = Identity(nacl.signing.SigningKey(seed(7)))
        async with P2PHost(seed=seed(7)) as host:
            assert host.peer_id == identity.peer_id
            (addr,) = host.listen_addrs
            assert addr.startswith("/ip4/127.0.0.1/tcp/")
            assert addr.endswith(f"/p2p/{identity.peer_id}")
            assert "/tcp/0/" not in addr

    run(main())


def test_bad_arguments_raise_clear_errors() -> None:
    with pytest.raises(ValueError):
        P2PHost(seed=b"short")
    with pytest.raises(P2PError, match="invalid listen multiaddr"):
        P2PHost(seed=seed(1), listen=("not a multiaddr",))

    async def main() -> None:
        async with P2PHost(seed=seed(1)) as host:
            with pytest.raises(P2PError, match="/p2p/<peer id>"):
                await host.connect("/ip4/127.0.0.1/tcp/1")
            with pytest.raises(P2PError, match="is this host itself"):
                await host.connect(host.listen_addrs[0])
            unused = "/ip4/127.0.0.1/tcp/9/p2p/12D3KooWRndVhVZPCiQwHBBBdg769GyrPUW13zxwqQyf9r3ANaba"
            with pytest.raises(P2PError, match="cannot connect"):
                await host.connect(unused)
            with pytest.raises(P2PError, match="not a peer id"):
                await host.request("nope", "/x/1", b"")
            # py-libp2p listens with SO_REUSEPORT: without our check a second node would share the port.
            taken = host.listen_addrs[0].split("/p2p/")[0]
            with pytest.raises(P2PError, match="in use"):
                await P2PHost(seed=seed(2), listen=(taken,)).start()

    run(main())


def test_gossip_reaches_a_line_and_own_validator_blocks_publishing() -> None:
    async def main() -> None:
        async with P2PHost(seed=seed(1)) as a, P2PHost(seed=seed(2)) as b, P2PHost(seed=seed(3)) as c:
            assert await b.connect(a.listen_addrs[0]) == a.peer_id
            await c.connect(b.listen_addrs[0])
            got: dict[str, list[tuple[bytes, str]]] = {a.peer_id: [], b.peer_id: [], c.peer_id: []}

            def validator(data: bytes, origin: str) -> bool:
                return not data.startswith(b"bad")

            for host in (a, b, c):

                async def on_message(data: bytes, origin: str, me: str = host.peer_id) -> None:
                    got[me].append((data, origin))

                await host.subscribe(TOPIC, validator, on_message)
            await wait_for(lambda: a.mesh_peers(TOPIC) == [b.peer_id] and c.mesh_peers(TOPIC) == [b.peer_id])
            for i in range(5):
                await a.publish(TOPIC, b"hello %d" % i)
            await wait_for(lambda: len(got[c.peer_id]) == 5)
            assert got[c.peer_id] == [(b"hello %d" % i, a.peer_id) for i in range(5)]
            assert len(got[b.peer_id]) == 5
            assert got[a.peer_id] == []  # own publishes are not echoed back
            with pytest.raises(P2PError, match="own validator"):
                await a.publish(TOPIC, b"bad idea")
            with pytest.raises(P2PError, match="already subscribed"):
                await a.subscribe(TOPIC, validator, lambda d, p: None)
            await c.unsubscribe(TOPIC)
            await c.unsubscribe(TOPIC)  # idempotent
            await a.publish(TOPIC, b"after")
            await wait_for(lambda: len(got[b.peer_id]) == 6)
            await asyncio.sleep(0.3)
            assert len(got[c.peer_id]) == 5
            assert {p.peer_id for p in b.peers()} == {a.peer_id, c.peer_id}

    run(main())


def test_publishing_is_paced_not_dropped() -> None:
    config = GossipConfig(publish_rate_per_s=50.0, publish_burst=5)

    async def main() -> None:
        async with P2PHost(seed=seed(1), gossip=config) as a, P2PHost(seed=seed(2), gossip=config) as b:
            got = await sender_and_receiver(a, b, TOPIC)
            loop = asyncio.get_running_loop()
            start = loop.time()
            for i in range(60):  # twice the library's 32-RPC outbound queue, in one go
                await a.publish(TOPIC, b"%d" % i)
            elapsed = loop.time() - start
            assert elapsed >= (60 - 5) / 50.0 * 0.9
            await wait_for(lambda: len(got) == 60)
            assert got == [b"%d" % i for i in range(60)]

    run(main())


def test_a_bad_callback_does_not_break_the_host() -> None:
    async def main() -> None:
        async with P2PHost(seed=seed(1)) as a, P2PHost(seed=seed(2)) as b:
            await b.connect(a.listen_addrs[0])
            got: list[bytes] = []

            def fussy_validator(data: bytes, origin: str) -> bool:
                if data == b"boom":
                    raise RuntimeError("validator bug")
                return True

            def fussy_consumer(data: bytes, origin: str) -> None:
                if data == b"crash":
                    raise RuntimeError("consumer bug")
                got.append(data)

            await a.subscribe(TOPIC, lambda d, p: True, lambda d, p: None)
            await b.subscribe(TOPIC, fussy_validator, fussy_consumer)
            await wait_for(lambda: a.mesh_peers(TOPIC) == [b.peer_id])
            for data in (b"boom", b"crash", b"fine"):
                await a.publish(TOPIC, data)
            await wait_for(lambda: got == [b"fine"])

    run(main())


def _plaintext_only_host(key_seed: bytes):  # type: ignore[no-untyped-def]
    """A py-libp2p host that offers nothing but /plaintext/2.0.0 (a downgrade attacker)."""
    import multiaddr
    from libp2p import new_host
    from libp2p.custom_types import TProtocol
    from libp2p.security.insecure.transport import PLAINTEXT_PROTOCOL_ID, InsecureTransport

    from djmesh.node.p2p.libp2p_host import key_pair_from_seed

    key_pair = key_pair_from_seed(key_seed)
    listen = [multiaddr.Multiaddr("/ip4/127.0.0.1/tcp/0")]
    host = new_host(
        key_pair=key_pair,
        sec_opt={TProtocol(PLAINTEXT_PROTOCOL_ID): InsecureTransport(key_pair)},
        listen_addrs=listen,
    )
    return host, listen


def test_plaintext_peer_is_refused_both_ways() -> None:
    async def main() -> None:
        async with P2PHost(seed=seed(1)) as ours:
            bridge = ours._bridge
            assert bridge is not None
            host, listen = _plaintext_only_host(seed(9))
            stop = trio.Event()
            ready = trio.Event()
            outcome: dict[str, object] = {}

            async def serve() -> None:
                async with host.run(listen):
                    ready.set()
                    await stop.wait()

            bridge.spawn(serve)
            await bridge.run(ready.wait)

            async def dial_ours() -> None:
                import multiaddr
                from libp2p.peer.peerinfo import info_from_p2p_addr

                try:
                    with trio.fail_after(10):
                        await host.connect(info_from_p2p_addr(multiaddr.Multiaddr(ours.listen_addrs[0])))
                    outcome["inbound"] = "connected"
                except Exception as exc:
                    outcome["inbound"] = exc

            await bridge.run(dial_ours)
            plaintext_addr = f"{host.get_addrs()[0]}"
            try:
                with pytest.raises(P2PError, match="cannot connect"):
                    await ours.connect(plaintext_addr)
                assert isinstance(outcome["inbound"], Exception), outcome
                assert ours.peers() == []
            finally:

                async def shutdown() -> None:
                    stop.set()
                    await host.close()

                await bridge.run(shutdown)

    run(main())


def test_stop_is_clean_idempotent_and_restartable() -> None:
    async def main() -> None:
        before = set(asyncio.all_tasks())
        a = P2PHost(seed=seed(1))
        await a.stop()  # stopping a host that never started is fine
        for _ in range(2):
            async with P2PHost(seed=seed(1)) as a, P2PHost(seed=seed(2)) as b:
                await b.connect(a.listen_addrs[0])
                await a.subscribe(TOPIC, lambda d, p: True, lambda d, p: None)
                await b.subscribe(TOPIC, lambda d, p: True, lambda d, p: None)
                await a.publish(TOPIC, b"x")
            await a.stop()
            await b.stop()
            assert a.peers() == [] and a.listen_addrs == []
            with pytest.raises(P2PError, match="not running"):
                await a.publish(TOPIC, b"x")
            with pytest.raises(P2PError, match="starts once"):
                await a.start()
            assert asyncio.get_running_loop() not in trio_bridge._SHARED
        await asyncio.sleep(0)
        assert set(asyncio.all_tasks()) == before

    run(main())


def test_wildcard_listen_addresses_are_made_dialable() -> None:
    async def main() -> None:
        async with (
            P2PHost(seed=seed(5), listen=("/ip4/0.0.0.0/tcp/0",)) as host,
            P2PHost(seed=seed(6)) as other,
        ):
            addrs = host.listen_addrs
            assert addrs and not any("/0.0.0.0/" in a for a in addrs)
            assert any(a.startswith("/ip4/127.0.0.1/tcp/") for a in addrs)
            assert await other.connect(addrs[-1]) == host.peer_id

    run(main())


def test_gossip_to_a_peer_goes_on_after_our_pubsub_stream_to_it_breaks() -> None:
    """py-libp2p opens a new stream to a peer still connected but forgets the peer's subscriptions, which the
    peer never sends again (its own stream to us is fine): nothing more reached it."""

    async def main() -> None:
        async with P2PHost(seed=seed(1)) as a, P2PHost(seed=seed(2)) as b:
            got = await sender_and_receiver(a, b, TOPIC)
            await a.publish(TOPIC, b"before")
            await wait_for(lambda: got == [b"before"])

            assert a._bridge is not None and a._pubsub is not None
            pubsub = a._pubsub
            (peer,) = [p for p in pubsub.peers if p.to_base58() == b.peer_id]
            await a._bridge.run(pubsub.peers[peer].reset)  # our stream to b breaks; the connection stays

            await wait_for(lambda: a.mesh_peers(TOPIC) == [b.peer_id])  # back in the mesh
            await a.publish(TOPIC, b"after")
            await wait_for(lambda: b"after" in got)

    run(main())


def test_gossip_state_shows_the_streams_topics_and_messages_of_a_node() -> None:
    """`status`'s ``gossip`` block: what a user reads when a node receives nothing, to see which link lacks."""

    async def main() -> None:
        async with P2PHost(seed=seed(1)) as a, P2PHost(seed=seed(2)) as b:
            alone = b.gossip_state()
            assert alone["streams_to_peers"] == alone["streams_from_peers"] == alone["received"] == 0
            got = await sender_and_receiver(a, b, TOPIC)
            await wait_for(lambda: b.gossip_state()["topics"][TOPIC]["subscribers"] == 1)
            await a.publish(TOPIC, b"hello")
            await wait_for(lambda: got == [b"hello"])
            state = b.gossip_state()
            assert state["streams_to_peers"] == state["streams_from_peers"] == 1
            assert state["topics"][TOPIC] == {"subscribers": 1, "mesh": 1, "fanout": 0}
            assert state["received"] >= 1
            assert state["refused"] == state["dropped_early"] == state["unsent"] == 0

    run(main())


def test_messages_the_router_drops_on_their_way_out_are_counted() -> None:
    """A full outbound queue drops messages (py-libp2p logs it at DEBUG only): `status` says how many."""
    router = build_router(GossipConfig())
    router.counters = counters = GossipCounters()  # type: ignore[attr-defined]
    rpc = rpc_pb2.RPC(publish=[rpc_pb2.Message(data=b"a"), rpc_pb2.Message(data=b"b")])
    router._handle_dropped_rpc(ID(b"\x00\x01x"), rpc, "queue_full")
    assert counters.as_dict()["unsent"] == 2


def test_each_peer_gets_an_outbound_queue_deep_enough_for_a_burst_of_joins() -> None:
    """py-libp2p's queue (32 RPCs) overflowed at every node in a 30-viewer battle's burst of joins."""

    async def main() -> None:
        async with P2PHost(seed=seed(1)) as a, P2PHost(seed=seed(2)) as b:
            await sender_and_receiver(a, b, TOPIC)
            assert pubsub_module.RpcQueue is DeeperRpcQueue
        queue = DeeperRpcQueue()
        assert all(queue.push(rpc_pb2.RPC()) for _ in range(OUTBOUND_QUEUE_RPCS))
        assert not queue.push(rpc_pb2.RPC())  # still bounded

    run(main())
