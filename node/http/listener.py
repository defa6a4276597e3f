"""The browser listener: a live stream to a web page over WebRTC, straight from this node (aiortc).

The page posts an SDP offer (``POST /api/listen/{stream_id}/offer``); the node answers with a
peer connection whose audio track forwards the stream's Opus packets as they reach their
playout time. Nothing is decoded or re-encoded: ``RTCRtpSender`` takes an encoded ``av.Packet``
and only packetizes it, so a listener costs a little packetizing, not an Opus encoder. A frame
the relay lost is simply not sent; the browser conceals the gap (an RTP timestamp jump).

ICE servers (STUN/TURN) come from the ``[webrtc]`` table of config.toml (``djmesh.node.config``);
both ends use them: the page reads them from ``GET /api/webrtc`` and this node's peer connections
get them here. Without any, the browser reaches the node at its host addresses (same machine or
LAN), the way an OBS browser source does; aiortc's default public STUN server is never used.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Coroutine
from fractions import Fraction
from typing import Any

import av
from aiortc import (
    MediaStreamTrack,
    RTCConfiguration,
    RTCIceServer,
    RTCPeerConnection,
    RTCSessionDescription,
)
from aiortc.mediastreams import MediaStreamError
from aiortc.rtcicetransport import parse_stun_turn_uri

from djmesh.node.clock import sleep
from djmesh.node.config import IceServer
from djmesh.node.live.broadcast import Broadcast
from djmesh.node.live.codec import SAMPLE_RATE
from djmesh.node.live.sets import SetSegment
from djmesh.node.live.subscription import Subscription
from djmesh.protocol.stream import Playout

log = logging.getLogger(__name__)

QUEUE_FRAMES = 10  # 200 ms at 20 ms frames: a stalled browser connection loses the oldest, not memory
CONNECT_TIMEOUT_S = 30.0  # an offer whose ICE never completes is given up
MAX_SDP_CHARS = 16 * 1024
TIME_BASE = Fraction(1, SAMPLE_RATE)


class ListenerError(Exception):
    """An offer the node cannot answer (the message says why); ``status`` is the HTTP status."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


def rtc_configuration(servers: tuple[IceServer, ...]) -> RTCConfiguration:
    """aiortc's configuration for ``servers`` (URLs aiortc cannot parse, IPv6 literals, are left out)."""
    ice = []
    for server in servers:
        urls = []
        for url in server.urls:
            try:
                parse_stun_turn_uri(url)
            except ValueError:
                log.info("browser listeners: %s is for browsers only (the node's WebRTC cannot use it)", url)
                continue
            urls.append(url)
        if urls:
            ice.append(
                RTCIceServer(
                    urls=urls, username=server.username or None, credential=server.credential or None
                )
            )
    return RTCConfiguration(iceServers=ice)  # an empty list, not None: None means aiortc's default server


def offer_sdp(offer: Any) -> str:
    """The SDP of a page's offer body, or ``ListenerError``: checked before anything is set up."""
    if not isinstance(offer, dict) or offer.get("type") != "offer" or not isinstance(offer.get("sdp"), str):
        raise ListenerError('the body must be {"type": "offer", "sdp": "..."}')
    sdp: str = offer["sdp"]
    if len(sdp) > MAX_SDP_CHARS:
        raise ListenerError("the offer is too large")
    if "m=audio" not in sdp:
        raise ListenerError("the offer has no audio section (add a recvonly audio transceiver)")
    return sdp


class OpusForwardTrack(MediaStreamTrack):
    """An audio track fed by a stream's playout: each frame's Opus packet, as is, timed by its seq."""

    kind = "audio"

    def __init__(self, frame_ms: int) -> None:
        super().__init__()
        self._frame_samples = SAMPLE_RATE * frame_ms // 1000
        self._queue: asyncio.Queue[Playout | None] = asyncio.Queue(QUEUE_FRAMES + 1)
        self.forwarded = 0

    # -- Tap (called on the event loop by the stream's playout) --------------------------------

    def on_playout(self, item: Playout, now_us: int) -> None:
        if item.payload is None:
            return
        if self._queue.full():
            self._queue.get_nowait()
        self._queue.put_nowait(item)

    def on_segment(self, segment: SetSegment) -> None:
        pass

    def on_end(self, error: str | None) -> None:
        if self._queue.full():
            self._queue.get_nowait()
        self._queue.put_nowait(None)

    # -- MediaStreamTrack ----------------------------------------------------------------------

    async def recv(self) -> av.Packet[Any]:
        item = await self._queue.get()
        if item is None or self.readyState != "live":
            self.stop()
            raise MediaStreamError
        packet = av.Packet(item.payload)
        packet.pts = item.seq * self._frame_samples
        packet.time_base = TIME_BASE
        self.forwarded += 1
        return packet


class BrowserListeners:
    """The peer connections of the pages listening here; bounded, all closed with the server."""

    def __init__(self, *, max_listeners: int = 16, ice_servers: tuple[IceServer, ...] = ()) -> None:
        self.max_listeners = max_listeners
        self.configuration = rtc_configuration(ice_servers)
        self._open: dict[RTCPeerConnection, tuple[Subscription | Broadcast, OpusForwardTrack]] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    def __len__(self) -> int:
        return len(self._open)

    def check_room(self) -> None:
        """Raise (503) when no more listeners fit: checked before a stream is subscribed for one."""
        if len(self._open) >= self.max_listeners:
            raise ListenerError(f"this node already serves {self.max_listeners} browser listeners", 503)

    async def answer(self, source: Subscription | Broadcast, offer: Any) -> dict[str, str]:
        """Answer a page's offer (``{"sdp": ..., "type": "offer"}``) with a track of ``source``."""
        sdp = offer_sdp(offer)
        self.check_room()
        pc = RTCPeerConnection(self.configuration)
        track = OpusForwardTrack(source.info.frame_ms)
        self._open[pc] = (source, track)

        @pc.on("connectionstatechange")
        async def on_state() -> None:
            log.debug("browser listener: %s", pc.connectionState)
            if pc.connectionState in ("failed", "closed"):
                await self._close(pc)

        try:
            await pc.setRemoteDescription(RTCSessionDescription(sdp=sdp, type="offer"))
            transceiver = next((t for t in pc.getTransceivers() if t.kind == "audio"), None)
            if transceiver is None:
                raise ListenerError("the offer has no audio section (add a recvonly audio transceiver)")
            pc.addTrack(track)
            await pc.setLocalDescription(await pc.createAnswer())
        except ListenerError:
            await self._close(pc)
            raise
        except (ValueError, TypeError, AttributeError) as exc:  # aiortc's complaints about a bad SDP
            await self._close(pc)
            raise ListenerError(f"the offer could not be used: {exc}") from exc
        source.taps.add(track)
        track.on("ended", lambda: self._spawn(self._close(pc)))  # the stream ended: hang up
        self._spawn(self._give_up_unless_connected(pc))
        description = pc.localDescription
        return {"sdp": description.sdp, "type": description.type}

    def _spawn(self, coroutine: Coroutine[Any, Any, None]) -> None:
        task = asyncio.ensure_future(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _give_up_unless_connected(self, pc: RTCPeerConnection) -> None:
        await sleep(CONNECT_TIMEOUT_S)
        if pc.connectionState != "connected":
            log.info("browser listener never connected; closing it")
            await self._close(pc)

    async def _close(self, pc: RTCPeerConnection) -> None:
        entry = self._open.pop(pc, None)
        if entry is not None:
            source, track = entry
            source.taps.discard(track)
            track.stop()
        with contextlib.suppress(Exception):
            await pc.close()

    async def close(self) -> None:
        for pc in list(self._open):
            await self._close(pc)
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        # and wait for them: nothing of ours runs after close (a task dropped mid-close holds its locks)
        await asyncio.gather(*tasks, return_exceptions=True)
