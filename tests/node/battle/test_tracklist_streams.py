"""Only a battle's DJs make a viewer keep a stream: a tracklist anyone else signs names nothing we record.

Otherwise one signed message would make every viewer subscribe to, relay and record a stream of the
attacker's choosing (issue 14).
"""

from __future__ import annotations

import contextlib
import time
from pathlib import Path

import nacl.signing
import pytest

from djmesh.node.battle.service import BattleService
from djmesh.node.live.service import LiveService
from djmesh.protocol.battle import Tracklist
from djmesh.protocol.envelope import sign
from tests.helpers.network import make_node, wait_until
from tests.protocol.battle_helpers import Battle

pytestmark = pytest.mark.timeout(120)


async def test_only_a_djs_tracklist_makes_a_viewer_keep_its_stream(tmp_path: Path) -> None:
    battle = Battle(t0=int(time.time() * 1000) - 30_000)  # the sets start now
    start = battle.spec.set_window(0)[0]
    outsider = nacl.signing.SigningKey(b"outsider".ljust(32, b"\0"))

    def tracklist(key: nacl.signing.SigningKey, stream: bytes) -> Tracklist:
        message = Tracklist(battle=battle.id, titles=("t0",), cues_ms=(0,), stream=stream)
        return sign(message, key, created_at_ms=start).message  # type: ignore[return-value]

    async with contextlib.AsyncExitStack() as stack:
        node = await stack.enter_async_context(make_node(tmp_path, "viewer", []))
        live = await stack.enter_async_context(LiveService(node))
        service = await stack.enter_async_context(BattleService(node, live, auto_join=False))
        kept: list[str] = []

        async def spy(stream_id: str, **kw: object) -> None:
            kept.append(stream_id)

        live.keep_set = spy  # type: ignore[method-assign]
        # the battle so far, as a node that just synced it sees it: stored, then the announcement
        node.store.add_many([e for e in battle.base()[1:] if not isinstance(e.message, Tracklist)])
        await service._on_message(battle.announce)
        forged = sign(tracklist(outsider, b"\x01" * 32), outsider, created_at_ms=start)
        honest = sign(tracklist(battle.dj_a, b"\x02" * 32), battle.dj_a, created_at_ms=start)
        await service._on_message(forged)
        await service._on_message(honest)
        await wait_until(lambda: kept, what="the DJ's stream to be kept")
        assert kept == [(b"\x02" * 32).hex()]
