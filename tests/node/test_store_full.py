"""A node whose disk is full keeps running and serving what it has, refuses what is new and says so."""

from __future__ import annotations

import contextlib
from pathlib import Path

import pytest

from djmesh.node.errors import NodeError
from tests.helpers.network import bootstrap_server, make_node, wait_until

pytestmark = pytest.mark.timeout(240)


async def test_a_full_disk_drops_new_messages_keeps_serving_and_recovers(tmp_path: Path) -> None:
    async with bootstrap_server() as boot, contextlib.AsyncExitStack() as stack:
        alice, bob = [
            await stack.enter_async_context(make_node(tmp_path, name, boot)) for name in ("alice", "bob")
        ]
        await bob.follow(alice.peer_id)
        await alice.post("before the disk filled up")
        await wait_until(
            lambda: "before the disk filled up" in [i.text for i in bob.feed()], what="the first post"
        )
        db = bob.store._db
        pages = db.execute("PRAGMA page_count").fetchone()[0]
        db.execute(f"PRAGMA max_page_count = {pages}")  # SQLite's SQLITE_FULL, as on a full disk

        for i in range(5):
            await alice.post(f"while bob's disk is full {i} " + "x" * 1500)
        await wait_until(
            lambda: bob.dropped.get("StoreFull", 0) > 0, what="bob to drop posts it cannot store"
        )
        with pytest.raises(NodeError, match="full: free disk space"):
            await bob.post("nowhere to write this " + "y" * 1800)
        assert [i.text for i in bob.feed()].count("before the disk filled up") == 1  # still served
        assert bob.store.integrity_ok()

        db.execute(f"PRAGMA max_page_count = {pages * 1000}")  # space again
        await alice.post("after the disk was cleared")
        await wait_until(
            lambda: "after the disk was cleared" in [i.text for i in bob.feed()],
            what="posts to be stored again",
        )
        await bob.post("and bob can write again")
