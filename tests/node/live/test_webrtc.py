"""The same stream over WebRTC data channels (aiortc), signalled through libp2p: the pluggable transport."""

from __future__ import annotations

import contextlib
from pathlib import Path

import pytest

from djmesh.node.live import LiveService
from tests.helpers.network import PATIENCE, bootstrap_server, make_node, wait_until
from tests.node.live.mesh import dominant_hz, read_audio

pytest.importorskip("aiortc")
pytestmark = pytest.mark.timeout(120)


async def test_a_listener_over_webrtc(tmp_path: Path) -> None:
    from djmesh.node.live.webrtc import RtcTransport

    async with bootstrap_server() as boot, contextlib.AsyncExitStack() as stack:
        lives = []
        for name in ("dj", "fan"):
            node = await stack.enter_async_context(make_node(tmp_path, name, boot))
            lives.append(await stack.enter_async_context(LiveService(node, transport=RtcTransport(node))))
        dj, fan = lives
        await fan.node.connect(dj.node.listen_addrs[0])
        await wait_until(lambda: dj.node.peer_id in {p.peer_id for p in fan.node.peers()}, what="connected")
        assert dj.address[0].startswith("rtc:")
        stream_id = await dj.start_stream("lavfi:sine=frequency=440")
        stats = await fan.listen(stream_id, record=str(tmp_path / "fan.wav"), seconds=3)
        assert stats.hops == 1 and stats.played_frames > 100 and not stats.dropped, stats
        assert stats.latency_ms is not None and stats.latency_ms < 150 * PATIENCE  # 150 ms on a quiet machine
        assert abs(dominant_hz(read_audio(tmp_path / "fan.wav")[4800:]) - 440) < 3, stats
        await dj.stop_stream(stream_id)
