"""Stream messages that reach a node before the stream's announcement (gossip does not keep order)."""

from __future__ import annotations

from pathlib import Path

import nacl.signing
import pytest

from djmesh.protocol.envelope import SignedEnvelope, sign
from djmesh.protocol.stream import StreamAnnounce, StreamEnd
from tests.helpers.network import bootstrap_server
from tests.node.live.mesh import live_nodes

pytestmark = pytest.mark.timeout(60)

NOW = 1_700_000_000_000


def _end(stream: bytes, key: nacl.signing.SigningKey, at_ms: int) -> SignedEnvelope:
    return sign(StreamEnd(stream, segments=3, frames=150, head=bytes(32)), key, created_at_ms=at_ms)


async def test_an_end_forged_before_the_announcement_arrives_does_not_end_the_stream(tmp_path: Path) -> None:
    """Mallory saw the announcement first and sent her own end at once: nodes it had not reached yet took it,
    showed the stream as over and refused to play it."""
    dj, mallory = nacl.signing.SigningKey.generate(), nacl.signing.SigningKey.generate()
    async with bootstrap_server() as boot, live_nodes(tmp_path, boot, ["fan"]) as nodes:
        (fan, fan_live) = nodes[0]
        announce = sign(StreamAnnounce(title="live now", nonce=b"order001"), dj, created_at_ms=NOW)
        forged = _end(announce.content_id, mallory, NOW + 1)
        fan.store.add(forged)
        fan_live._learn(forged)  # as MessageStored delivers stored gossip
        fan.store.add(announce)
        fan_live._learn(announce)
        [info] = [s for s in fan_live.streams() if s.stream_id == announce.content_id.hex()]
        assert info.live
        assert announce.content_id not in fan_live._ends  # what `listen` refuses an ended stream by
        # the forged end stays stored (it is validly signed), unused
        assert fan.store.get(forged.content_id) is not None


async def test_the_djs_own_end_before_the_announcement_counts_once_it_comes(tmp_path: Path) -> None:
    dj, mallory = nacl.signing.SigningKey.generate(), nacl.signing.SigningKey.generate()
    async with bootstrap_server() as boot, live_nodes(tmp_path, boot, ["fan"]) as nodes:
        (fan, fan_live) = nodes[0]
        announce = sign(StreamAnnounce(title="over", nonce=b"order002"), dj, created_at_ms=NOW)
        for early in (_end(announce.content_id, mallory, NOW + 1), _end(announce.content_id, dj, NOW + 2)):
            fan.store.add(early)
            fan_live._learn(early)
        fan.store.add(announce)
        fan_live._learn(announce)
        [info] = [s for s in fan_live.streams() if s.stream_id == announce.content_id.hex()]
        assert not info.live
        assert fan_live._ends[announce.content_id].author == announce.author
