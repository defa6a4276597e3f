"""A lying, flooding peer among honest nodes: dropped before forwarding, scored down, no crash."""

from __future__ import annotations

import asyncio
import contextlib
import time
from pathlib import Path

import nacl.signing
import pytest

from djmesh.node.node import Node, NodeOptions
from djmesh.node.p2p import P2PHost
from djmesh.protocol import Chat, Post, cbor, sign
from djmesh.protocol.battle import BATTLES_TOPIC
from djmesh.protocol.envelope import SIGNING_CONTEXT
from djmesh.protocol.peer_id import peer_id_from_public_key
from djmesh.protocol.ratelimit import RateLimit
from djmesh.protocol.topics import author_topic
from tests.helpers.network import LOOPBACK, bootstrap_server, make_home, make_node, wait_until
from tests.protocol.battle_helpers import Battle, judged_result, with_winner

pytestmark = pytest.mark.timeout(240)


def forged_as(victim: Node, key: nacl.signing.SigningKey, text: str) -> bytes:
    """An envelope that names ``victim`` as author but is signed by ``key``."""
    unsigned = {
        "v": 1,
        "k": "post",
        "a": victim.public_key,
        "t": int(time.time() * 1000),
        "p": {"text": text},
    }
    signature = key.sign(SIGNING_CONTEXT + cbor.encode(unsigned)).signature
    return cbor.encode({**unsigned, "s": signature})


def score_of(node: Node, peer_id: str) -> float | None:
    return next((p.score for p in node.peers() if p.peer_id == peer_id), None)


async def test_lies_are_dropped_before_forwarding_and_score_the_liar_down(tmp_path: Path) -> None:
    mallory_key = nacl.signing.SigningKey(b"mallory".ljust(32, b"\0"))
    async with bootstrap_server() as boot, contextlib.AsyncExitStack() as stack:
        alice, bob, carol = [
            await stack.enter_async_context(make_node(tmp_path, name, boot))
            for name in ("alice", "bob", "carol")
        ]
        mallory = await stack.enter_async_context(P2PHost(seed=bytes(mallory_key), listen=[LOOPBACK]))
        alice_topic = author_topic(alice.public_key)
        mallory_topic = author_topic(bytes(mallory_key.verify_key))
        for topic in (alice_topic, mallory_topic):
            await mallory.subscribe(
                topic, validator=lambda data, origin: True, on_message=lambda data, origin: None
            )
        for node in (bob, carol):
            await node.follow(alice.peer_id)
        await bob.follow(mallory.peer_id)
        await mallory.connect(bob.listen_addrs[0])  # mallory reaches the others only through bob
        await wait_until(
            lambda: len(bob.host.mesh_peers(alice_topic)) >= 2, what="bob's mesh for alice's topic"
        )
        await wait_until(lambda: bob.peer_id in mallory.mesh_peers(alice_topic), what="bob in mallory's mesh")
        first = await alice.post("honest 1")
        await wait_until(lambda: "honest 1" in [i.text for i in carol.feed()], what="honest post at carol")

        lies = [
            b"\x00garbage\xff" * 10,
            forged_as(alice, mallory_key, "alice owes me money"),
            b"\xa1" + b"x" * 70_000,
            first.wire,  # a replay of alice's real post, published by mallory
            sign(Chat("battle-1", "wrong topic"), mallory_key, created_at_ms=int(time.time() * 1000)).wire,
            sign(Post("an hour old"), mallory_key, created_at_ms=int(time.time() * 1000) - 3_600_000).wire,
        ]
        for _ in range(4):
            for lie in lies:
                with contextlib.suppress(Exception):
                    await mallory.publish(alice_topic, lie)
        reasons = {
            "DecodeError",
            "BadSignatureError",
            "MessageTooLargeError",
            "NotAuthorError",
            "WrongTopic",
            "StaleTimestampError",
        }
        await wait_until(
            lambda: reasons <= set(bob.dropped), what=lambda: f"bob to drop each lie ({bob.dropped})"
        )
        # Once mallory's score falls below the graylist threshold, bob ignores the rest unvalidated.
        score = score_of(bob, mallory.peer_id)
        assert score is not None and score < 0, f"mallory's score at bob is {score}"

        # Nothing mallory sent reached carol through bob, and nobody crashed.
        assert carol.store.count(kind="post") == 1
        assert not {"DecodeError", "BadSignatureError", "NotAuthorError"} & set(carol.dropped)
        assert alice.store.count(kind="post") == 1
        await alice.post("still alive")
        await wait_until(lambda: "still alive" in [i.text for i in bob.feed()], what="bob still works")


async def test_a_flooding_author_is_rate_limited_while_others_get_through(tmp_path: Path) -> None:
    flooder_key = nacl.signing.SigningKey(b"flooder".ljust(32, b"\0"))
    async with bootstrap_server() as boot, contextlib.AsyncExitStack() as stack:
        alice, bob = [
            await stack.enter_async_context(make_node(tmp_path, name, boot)) for name in ("alice", "bob")
        ]
        flooder = await stack.enter_async_context(P2PHost(seed=bytes(flooder_key), listen=[LOOPBACK]))
        flood_topic = author_topic(bytes(flooder_key.verify_key))
        await flooder.subscribe(
            flood_topic, validator=lambda data, origin: True, on_message=lambda d, o: None
        )
        checked = [0]  # flood messages bob decoded and verified
        validate = bob._validate

        def counting(topic: str, data: bytes, origin: str) -> object:
            checked[0] += topic == flood_topic
            return validate(topic, data, origin)

        bob._validate = counting  # type: ignore[assignment,method-assign]
        await bob.follow(alice.peer_id)
        await bob.follow(flooder.peer_id)
        await flooder.connect(bob.listen_addrs[0])
        await wait_until(
            lambda: bob.peer_id in flooder.mesh_peers(flood_topic), what="bob in the flooder's mesh"
        )
        await wait_until(
            lambda: bool(bob.host.mesh_peers(author_topic(alice.public_key))), what="bob's mesh for alice"
        )
        now = int(time.time() * 1000)
        flood = asyncio.gather(
            *(
                flooder.publish(flood_topic, sign(Post(f"spam {i}"), flooder_key, created_at_ms=now + i).wire)
                for i in range(100)
            )
        )
        await alice.post("honest during the flood")
        await flood
        await wait_until(
            lambda: "honest during the flood" in [i.text for i in bob.feed(limit=500)],
            what="honest traffic to keep flowing during the flood",
        )
        await asyncio.sleep(2)
        spam_stored = bob.store.count(kind="post") - 1
        assert 0 < spam_stored <= 50, f"bob stored {spam_stored} of 100 flood posts (burst 20, 5/s)"
        assert bob.dropped.get("RateLimited", 0) > 0
        # once over its rate, the flooder's messages are dropped before any signature check (py-libp2p's and
        # the envelope's); before, bob checked all 100
        assert checked[0] <= 50, checked[0]


async def test_an_honest_forwarder_of_a_chatty_author_keeps_its_score(tmp_path: Path) -> None:
    """Rate limits are policy: carol ignores what is over a chatty author's rate, without blaming bob,
    who forwards it (his own limit is higher). Before, each such message cost bob 5 points."""
    chatty_key = nacl.signing.SigningKey(b"chatty".ljust(32, b"\0"))
    async with bootstrap_server() as boot, contextlib.AsyncExitStack() as stack:
        generous = NodeOptions(listen=[LOOPBACK], bootstrap=boot, inbox_rate=RateLimit(1000, 1000))
        bob = await stack.enter_async_context(Node(make_home(tmp_path, "bob"), options=generous))
        strict = NodeOptions(listen=[LOOPBACK], bootstrap=boot, inbox_rate=RateLimit(burst=5, per_second=1))
        carol = await stack.enter_async_context(Node(make_home(tmp_path, "carol"), options=strict))
        chatty = await stack.enter_async_context(P2PHost(seed=bytes(chatty_key), listen=[LOOPBACK]))
        topic = author_topic(bytes(chatty_key.verify_key))
        await chatty.subscribe(topic, validator=lambda data, origin: True, on_message=lambda d, o: None)
        chatty_id = peer_id_from_public_key(bytes(chatty_key.verify_key))
        for node in (bob, carol):
            await node.follow(chatty_id)
        await carol.connect(bob.listen_addrs[0])
        await chatty.connect(bob.listen_addrs[0])  # chatty reaches carol only through bob
        await wait_until(lambda: bool(carol.host.mesh_peers(topic)), what="carol's mesh for chatty's topic")
        # chatty is a bare host (no resend, no sync): what it publishes before bob is in its mesh is lost
        await wait_until(lambda: bob.peer_id in chatty.mesh_peers(topic), what="bob in chatty's mesh")
        now = int(time.time() * 1000)
        for i in range(40):
            await chatty.publish(topic, sign(Post(f"chat {i}"), chatty_key, created_at_ms=now + i).wire)
        await wait_until(lambda: bob.store.count(kind="post") == 40, what="bob to take all 40 posts")
        await wait_until(
            lambda: carol.dropped.get("RateLimited", 0) >= 10,
            what=lambda: f"carol to rate-limit chatty ({carol.dropped})",
        )
        await asyncio.sleep(2.5)  # two heartbeats: the scorer has booked whatever it books
        score = score_of(carol, bob.peer_id)
        assert score is not None and score >= 0, f"bob's score at carol is {score}"


async def test_an_invalid_result_bundle_is_neither_stored_nor_forwarded(tmp_path: Path) -> None:
    mallory_key = nacl.signing.SigningKey(b"mallory".ljust(32, b"\0"))
    battle = Battle(committee_size=4)
    honest = judged_result(battle)
    flipped = with_winner(honest, "b")
    async with bootstrap_server() as boot, contextlib.AsyncExitStack() as stack:
        bob, carol = [
            await stack.enter_async_context(make_node(tmp_path, name, boot)) for name in ("bob", "carol")
        ]
        mallory = await stack.enter_async_context(P2PHost(seed=bytes(mallory_key), listen=[LOOPBACK]))
        await mallory.subscribe(BATTLES_TOPIC, validator=lambda d, o: True, on_message=lambda d, o: None)
        for node in (bob, carol):
            await node.join_topic(BATTLES_TOPIC)
        await carol.connect(bob.listen_addrs[0])
        await mallory.connect(bob.listen_addrs[0])  # mallory reaches carol only through bob
        await wait_until(lambda: len(bob.host.mesh_peers(BATTLES_TOPIC)) >= 2, what="bob's battles mesh")
        await wait_until(
            lambda: bob.peer_id in mallory.mesh_peers(BATTLES_TOPIC), what="bob in mallory's mesh"
        )
        now = int(time.time() * 1000)
        await mallory.publish(BATTLES_TOPIC, sign(flipped, mallory_key, created_at_ms=now).wire)
        await wait_until(
            lambda: "InvalidResult" in bob.dropped, what=lambda: f"bob to drop it ({bob.dropped})"
        )
        await mallory.publish(BATTLES_TOPIC, sign(honest, mallory_key, created_at_ms=now + 1).wire)
        await wait_until(
            lambda: carol.store.count(kind="battle_result") == 1, what="the honest bundle at carol"
        )
        assert bob.store.count(kind="battle_result") == 1  # only the honest one, at bob too
        (stored,) = carol.store.query(kind="battle_result", limit=10)
        assert stored.envelope.message.winner == "a"
