"""The highest bitrate a DJ may stream at, over real QUIC on loopback: a late listener's catch-up and the frames
after it arrive, and a parent's oversized frames are dropped with a logged reason, not passed on or crashed on.

Before the bound, VBR at 320 kbit/s made 1,276-byte Opus packets: a catch-up holding one raised inside the hub's
join, and aioquic (1,200-byte packets) kept such a datagram queued for ever, ahead of every later one on the link.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest

from djmesh.node.live.errors import LiveError
from djmesh.node.live.quic import QuicLink
from djmesh.node.live.subscription import Subscription
from djmesh.protocol.errors import MalformedMessageError
from djmesh.protocol.relay import Frames
from djmesh.protocol.stream import (
    MAX_FRAME_DATAGRAM,
    MAX_LIVE_BITRATE,
    MAX_LIVE_OPUS_PACKET,
    Frame,
)
from tests.helpers.network import bootstrap_server, wait_until
from tests.node.live.mesh import live_nodes, played, subscription

pytestmark = pytest.mark.timeout(180)
NOISE = "lavfi:anoisesrc=amplitude=0.5"


async def test_a_late_listener_at_the_highest_bitrate_gets_its_catch_up_and_the_frames_after_it(
    tmp_path: Path,
) -> None:
    async with bootstrap_server() as boot, live_nodes(tmp_path, boot, ["dj", "fan"]) as nodes:
        (_, dj), (_, fan) = nodes
        with pytest.raises(LiveError, match=r"^bitrate must be 6000\.\.457000 bit/s: a 20 ms Opus packet"):
            await dj.start_stream(NOISE, bitrate=MAX_LIVE_BITRATE + 1_000)
        # 5 s segments: whatever the machine's pace, the catch-up is every frame so far, in several batches
        stream_id = await dj.start_stream(NOISE, title="loud", bitrate=MAX_LIVE_BITRATE, segment_frames=250)
        broadcast = dj._broadcasts[bytes.fromhex(stream_id)]
        hub = broadcast.hub
        await wait_until(lambda: broadcast.frames_sent >= 100, what="the DJ 2 s into the stream")
        sizes = [len(datagram) for datagram in hub._frames.values()]
        assert max(sizes) == MAX_LIVE_OPUS_PACKET + 13, "at the top bitrate every packet is as big as fits"

        # listened to until the stream ends: how many frames a fixed few seconds play depends on the machine
        listening = asyncio.ensure_future(fan.listen(stream_id))
        await wait_until(lambda: played(fan, stream_id) > 150, what="three seconds played at the top bitrate")
        sub = subscription(fan, stream_id)
        assert sub.recovered >= 100, "the catch-up came, in frames messages of up to 48 of the biggest frames"
        await wait_until(
            lambda: sub.verifier.verified_upto >= 250, what="the first segment, caught up, verified"
        )
        await dj.stop_stream(stream_id)
        stats = await listening
        assert stats.played_frames > 150, stats
        assert stats.bitrate > 400_000, stats
        assert not stats.dropped, stats.dropped


async def test_a_parents_oversized_frames_are_dropped_with_a_reason_and_the_stream_goes_on(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="djmesh.node.live")
    async with bootstrap_server() as boot, live_nodes(tmp_path, boot, ["dj", "fan"]) as nodes:
        (_, dj), (_, fan) = nodes
        stream_id = await dj.start_stream("lavfi:sine=frequency=440", title="loud", bitrate=192_000)
        sub = await fan.subscribe(stream_id)
        assert isinstance(sub, Subscription)
        await wait_until(lambda: sub.verifier.verified_upto > 0, what="the fan verified a segment")
        hub = dj._broadcasts[bytes.fromhex(stream_id)].hub
        (child,) = hub.children.values()
        link = child.link
        assert isinstance(link, QuicLink)

        # what the old bound let through: a 1,276-byte Opus packet; sent raw, in a packet bigger than ours (a
        # hostile parent's QUIC stack may send up to the 1,500-byte DATAGRAM frames we accept), then through
        # our own link's check, then inside a catch-up message
        seq = sub.verifier.verified_upto + 10_000
        big = Frame(seq, 0, bytes(1276)).encode()
        quic = link._quic
        quic._max_datagram_size = 1400
        quic.send_datagram_frame(big)
        link.transmit()
        quic._max_datagram_size = 1200
        link.send_datagram(big)
        link.send_control({"op": "frames", "data": [big]})
        with pytest.raises(MalformedMessageError, match=r"frame: expected 1\.\.1156 bytes"):
            Frames((big,))

        heard = sub.received_frames
        await wait_until(lambda: sub.received_frames > heard + 50, what="a second of frames after them")
        assert sub.verifier.counts.get("malformed") == 1
        assert sub.reparents == 0, "an oversized frame costs the parent nothing more"
        assert all(len(datagram) <= MAX_FRAME_DATAGRAM for datagram in sub.hub._frames.values())
        assert seq not in sub.hub._frames, "passed on to its own children"
        messages = [record.getMessage() for record in caplog.records]
        assert any(
            "dropped a bad frame datagram (1 so far): frame datagram of 1289 bytes" in m for m in messages
        )
        assert any("datagram of 1289 bytes not sent" in m for m in messages)
        assert any(
            "dropped a control message" in m and "frame: expected 1..1156 bytes" in m for m in messages
        )
        await dj.stop_stream(stream_id)
