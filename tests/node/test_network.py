"""Several real nodes and a bootstrap server on loopback, in one test run."""

from __future__ import annotations

import asyncio
import contextlib
import time
from pathlib import Path
from typing import Any

import pytest

from djmesh.node.node import Node
from djmesh.protocol import Post, sign
from djmesh.protocol.topics import author_topic
from tests.helpers.network import bootstrap_server, make_node, wait_until

pytestmark = pytest.mark.timeout(240)


def feed_texts(node: Node) -> list[str]:
    return [item.text for item in node.feed(limit=500)]


async def test_a_post_reaches_every_follower(tmp_path: Path) -> None:
    async with bootstrap_server() as boot, contextlib.AsyncExitStack() as stack:
        alice, *followers = [
            await stack.enter_async_context(make_node(tmp_path, name, boot))
            for name in ("alice", "bob", "carol", "dave", "erin")
        ]
        frank = await stack.enter_async_context(make_node(tmp_path, "frank", boot))  # follows nobody
        for follower in followers:
            await follower.follow(alice.peer_id)
        await wait_until(
            lambda: all(alice.peer_id in {p.peer_id for p in f.peers()} for f in followers),
            what="followers connected to alice",
        )
        await asyncio.sleep(2)  # a GossipSub heartbeat or two to graft the mesh
        post = await alice.post("drop at midnight")
        await wait_until(
            lambda: all("drop at midnight" in feed_texts(f) for f in followers),
            what="the post in every follower's feed",
        )
        for follower in followers:
            [item] = [i for i in follower.feed() if i.text == "drop at midnight"]
            assert item.id == post.content_id.hex() and item.author == alice.peer_id
        assert "drop at midnight" not in feed_texts(frank)
        assert feed_texts(alice)[0] == "drop at midnight"


async def test_restarted_node_keeps_history_and_catches_up(tmp_path: Path) -> None:
    async with bootstrap_server() as boot, make_node(tmp_path, "alice", boot) as alice:
        async with make_node(tmp_path, "bob", boot) as bob:
            await bob.follow(alice.peer_id)
            await wait_until(lambda: alice.peer_id in {p.peer_id for p in bob.peers()}, what="connection")
            await asyncio.sleep(2)
            await alice.post("before the break")
            await wait_until(lambda: "before the break" in feed_texts(bob), what="live post")
        # Bob is down; Alice keeps posting.
        for i in range(3):
            await alice.post(f"while you were away {i}")
        async with make_node(tmp_path, "bob", boot) as bob:
            assert "before the break" in feed_texts(bob)  # kept across the restart
            await wait_until(
                lambda: all(f"while you were away {i}" in feed_texts(bob) for i in range(3)),
                timeout=60,
                what="history sync after restart",
            )


async def test_crew_feed_reaches_members_only(tmp_path: Path) -> None:
    async with bootstrap_server() as boot, contextlib.AsyncExitStack() as stack:
        alice, bob, carol = [
            await stack.enter_async_context(make_node(tmp_path, name, boot))
            for name in ("alice", "bob", "carol")
        ]
        crew_id = await alice.create_crew("Bass Collective")
        await bob.join_crew(crew_id)
        await carol.join_crew(crew_id)  # subscribes, but nobody invites her
        await wait_until(
            lambda: bob.view.crew(crew_id) is not None and carol.view.crew(crew_id) is not None,
            what="crew founding message to reach bob and carol",
        )
        await alice.invite(crew_id, bob.peer_id)
        await wait_until(lambda: bool(bob.store.crew_keys(crew_id)), what="crew key to reach bob")
        await alice.crew_post(crew_id, "rehearsal at 8")
        await bob.crew_post(crew_id, "on my way")
        await wait_until(
            lambda: {i.text for i in bob.crew_feed(crew_id)} == {"rehearsal at 8", "on my way"},
            what="bob's crew feed",
        )
        await wait_until(
            lambda: (
                len(carol.store.by_topics([f"/djmesh/1/crew/{crew_id.hex()}"], kinds=("crew_post",))) == 2
            ),
            what="ciphertext at carol",
        )
        assert carol.crew_feed(crew_id) == []  # she holds the ciphertext, not the key
        with pytest.raises(Exception, match="not a member"):
            await carol.crew_post(crew_id, "let me in")


async def test_mute_hides_and_block_refuses(tmp_path: Path) -> None:
    async with bootstrap_server() as boot, contextlib.AsyncExitStack() as stack:
        alice, bob, carol = [
            await stack.enter_async_context(make_node(tmp_path, name, boot))
            for name in ("alice", "bob", "carol")
        ]
        for author in (alice, carol):
            await bob.follow(author.peer_id)
        await wait_until(
            lambda: {alice.peer_id, carol.peer_id} <= {p.peer_id for p in bob.peers()}, what="connections"
        )
        await asyncio.sleep(2)
        await alice.post("alice 1")
        await carol.post("carol 1")
        await wait_until(lambda: {"alice 1", "carol 1"} <= set(feed_texts(bob)), what="both posts at bob")
        bob.set_flag(alice.peer_id, "mute")
        assert "alice 1" not in feed_texts(bob) and "carol 1" in feed_texts(bob)  # hidden, still stored
        bob.set_flag(carol.peer_id, "block")
        await carol.post("carol 2")
        await alice.post("alice 2")
        await wait_until(
            lambda: bob.dropped.get("Blocked", 0) >= 1, what=lambda: f"the block to drop ({bob.dropped})"
        )
        await wait_until(
            lambda: bob.store.count(kind="post") == 3,
            what=lambda: (
                f"alice 2 stored, carol 2 refused (bob stores {bob.store.count(kind='post')} posts; "
                f"dropped {bob.dropped})"
            ),
        )
        bob.set_flag(alice.peer_id, "mute", on=False)
        assert set(feed_texts(bob)) == {"alice 1", "alice 2"}


async def test_a_sync_page_is_verified_in_slices_that_let_the_loop_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A page of up to 500 envelopes is not verified in one stretch: other tasks run in between."""
    import djmesh.node.node as node_module

    monkeypatch.setattr(node_module, "SYNC_SLICE_S", 0.0)  # every envelope its own slice
    ticks = 0
    seen_at: list[int] = []
    real_decode = node_module.decode_envelope

    def recording_decode(*args: Any, **kwargs: Any) -> Any:
        seen_at.append(ticks)
        return real_decode(*args, **kwargs)

    async def ticker() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0)

    async with bootstrap_server() as boot, make_node(tmp_path, "alice", boot) as alice:
        now = int(time.time() * 1000)
        # stored, not published: nothing reaches bob but history sync
        alice.store.add_many(
            [sign(Post(f"history {i}"), alice.identity.signing_key, created_at_ms=now - i) for i in range(30)]
        )
        async with make_node(tmp_path, "bob", boot) as bob:
            await bob.connect(alice.listen_addrs[0])
            await wait_until(lambda: bool(bob.peers()), what="bob connected")
            await bob._join(author_topic(alice.public_key))
            monkeypatch.setattr(node_module, "decode_envelope", recording_decode)
            task = asyncio.ensure_future(ticker())
            try:
                assert await bob.sync() == 30
            finally:
                task.cancel()
            assert len(seen_at) >= 30
            # the ticker ran between envelopes of the same page (without slices it never could)
            assert len(set(seen_at)) >= 29
