"""A flood of stream announcements costs a bounded table; the streams a node plays or broadcasts stay."""

from __future__ import annotations

from pathlib import Path

import nacl.signing
import pytest

from djmesh.node.live import service as live_service
from djmesh.node.live.session import Request
from djmesh.protocol import cbor
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


async def test_a_peer_asking_for_pages_past_its_budget_is_refused_and_others_still_served(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An asking costs a few bytes and an answer up to half a megabyte: each peer has a page budget."""
    monkeypatch.setattr(live_service, "PAGE_BUDGET", live_service.RateLimit(burst=5.0, per_second=0.001))
    async with bootstrap_server() as boot, live_nodes(tmp_path, boot, ["dj"]) as nodes:
        (_, live) = nodes[0]
        write_wav(tmp_path / "ours.wav", 2.0, bpm=120.0)
        ours = bytes.fromhex(await live.start_stream(str(tmp_path / "ours.wav"), title="ours"))
        await wait_until(live._broadcasts[ours].done.is_set, what="our short stream to end")

        async def ask(peer: str, op: str) -> dict[str, object]:
            reply = cbor.decode(await live._serve(Request(op, ours).encode(), peer))
            assert isinstance(reply, dict)
            return reply

        greedy = [await ask("greedy", "set" if i % 2 else "segments") for i in range(8)]
        assert all("error" not in r and r["segments"] for r in greedy[:5]), greedy[:5]
        assert all(str(r.get("error", "")).startswith("busy") for r in greedy[5:])
        assert (await ask("greedy", "locate")).get("candidates") is not None  # locating costs no page
        assert "error" not in await ask("another", "set")
