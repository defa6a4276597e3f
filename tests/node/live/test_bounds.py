"""A flood of stream announcements costs a bounded table; the streams a node plays or broadcasts stay."""

from __future__ import annotations

from pathlib import Path

import nacl.signing
import pytest

from djmesh.node.live import service as live_service
from djmesh.protocol.envelope import sign
from djmesh.protocol.stream import StreamAnnounce, StreamEnd
from tests.helpers.network import bootstrap_server, wait_until
from tests.helpers.sets import write_wav
from tests.node.live.mesh import live_nodes

pytestmark = pytest.mark.timeout(60)


async def test_known_streams_are_bounded_and_ours_is_kept(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(live_service, "MAX_KNOWN_STREAMS", 5)
    async with bootstrap_server() as boot, live_nodes(tmp_path, boot, ["dj"]) as nodes:
        (_, live) = nodes[0]
        write_wav(tmp_path / "ours.wav", 3.0, bpm=120.0)
        ours = await live.start_stream(str(tmp_path / "ours.wav"), title="ours")
        flood = []
        for i in range(12):
            key = nacl.signing.SigningKey.generate()
            announce = sign(
                StreamAnnounce(title=f"spam {i}", nonce=bytes([i]) * 8), key, created_at_ms=1000 + i
            )
            live._learn(announce)  # as MessageStored delivers a stored gossip message
            if i < 3:  # three of them also ended
                live._learn(
                    sign(
                        StreamEnd(announce.content_id, segments=0, frames=0, head=bytes(32)),
                        key,
                        created_at_ms=2000,
                    )
                )
            flood.append(announce.content_id.hex())
        known = {info.stream_id for info in live.streams()}
        assert len(known) == 5 and ours in known
        # the newest announcements stayed; the ended and the oldest went first
        assert known - {ours} == set(flood[-4:])
        broadcast = live._broadcasts[bytes.fromhex(ours)]
        await wait_until(broadcast.done.is_set, what="our short stream to end")
