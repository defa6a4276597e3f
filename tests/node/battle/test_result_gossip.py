"""A result bundle that does not prove what it claims is refused before it is stored or forwarded."""

from __future__ import annotations

import contextlib
import time
from pathlib import Path

import nacl.signing
import pytest

from djmesh.node.p2p import P2PHost
from djmesh.protocol.battle import BATTLES_TOPIC, BattleResult
from djmesh.protocol.consensus import build_result
from djmesh.protocol.envelope import sign
from tests.helpers.network import LOOPBACK, bootstrap_server, make_node, wait_until
from tests.protocol.battle_helpers import Battle, scores

pytestmark = pytest.mark.timeout(240)


async def test_a_forged_forfeit_is_dropped_once_never_stored_nor_forwarded(tmp_path: Path) -> None:
    mallory_key = nacl.signing.SigningKey(b"mallory-results".ljust(32, b"\0"))
    now = int(time.time() * 1000)
    b = Battle(t0=now - 4 * 3600 * 1000)  # a battle that ended hours ago, judged honestly
    # Mallory leaves B's tracklist out and claims B never showed up (issue 13, attack 1)
    without_b = [e for e in b.base() if e is not b.tracklists[1]]
    forged = sign(
        BattleResult(b.id, tuple(e.wire for e in without_b), "a", None, forfeit="b"),
        mallory_key,
        created_at_ms=now,
    )
    honest = sign(
        build_result(b.base() + b.honest_round(scores(800, 500))), mallory_key, created_at_ms=now + 1
    )
    async with bootstrap_server() as boot, contextlib.AsyncExitStack() as stack:
        bob, carol = [await stack.enter_async_context(make_node(tmp_path, n, boot)) for n in ("bob", "carol")]
        mallory = await stack.enter_async_context(P2PHost(seed=bytes(mallory_key), listen=[LOOPBACK]))
        await mallory.subscribe(
            BATTLES_TOPIC, validator=lambda data, origin: True, on_message=lambda d, o: None
        )
        for node in (bob, carol):
            await node.join_topic(BATTLES_TOPIC)
        await mallory.connect(bob.listen_addrs[0])  # mallory reaches carol only through bob
        await wait_until(lambda: len(bob.host.mesh_peers(BATTLES_TOPIC)) >= 2, what="bob's battles mesh")
        for _ in range(3):
            await mallory.publish(BATTLES_TOPIC, forged.wire)
        await mallory.publish(BATTLES_TOPIC, honest.wire)
        await wait_until(lambda: honest.content_id in carol.store, what="the honest bundle at carol")
        assert bob.dropped.get("InvalidResult") == 1  # refused with its rule, logged once
        assert forged.content_id not in bob.store and forged.content_id not in carol.store
        assert "InvalidResult" not in carol.dropped  # bob never forwarded it
