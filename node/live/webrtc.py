"""WebRTC links (aiortc), for peers QUIC cannot reach directly: ICE does the NAT traversal.

Two negotiated data channels per peer connection: ``frames`` (unordered, no retransmission:
the datagram path) and ``control`` (reliable, ordered). The offer/answer exchange goes over
libp2p request/response (``/djmesh/live-rtc/1.0.0``), so there is no signalling server. A link
address is ``("rtc:<peer id>", 0)``. aiortc is optional: this module imports it lazily.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Callable
from typing import Any

from djmesh.node.live.transport import ControlMessage, Link, LinkHandler
from djmesh.node.node import Node
from djmesh.node.p2p import P2PError
from djmesh.protocol.errors import ProtocolError
from djmesh.protocol.stream import ControlReader, encode_control

log = logging.getLogger(__name__)

RTC_PROTOCOL_ID = "/djmesh/live-rtc/1.0.0"
PREFIX = "rtc:"
MAX_SDP_BYTES = 16 * 1024


def rtc_address(peer_id: str) -> tuple[str, int]:
    return (PREFIX + peer_id, 0)


class RtcLink:
    """A peer connection as a ``Link``; control messages wait for a handler to be set."""

    def __init__(self, pc: Any, remote: tuple[str, int]) -> None:
        self.remote = remote
        self._pc = pc
        self._handler: LinkHandler | None = None
        self._held: list[ControlMessage] = []
        self._reader = ControlReader()
        self._closed: str | None = None
        self._closing: asyncio.Future[None] | None = None
        self.opened = asyncio.Event()
        self._frames = pc.createDataChannel("frames", negotiated=True, id=0, ordered=False, maxRetransmits=0)
        self._control = pc.createDataChannel("control", negotiated=True, id=1)
        self._frames.on("message", self._on_frame)
        self._control.on("message", self._on_control)
        self._control.on("open", self.opened.set)
        pc.on("connectionstatechange", self._on_state)

    @property
    def handler(self) -> LinkHandler | None:
        return self._handler

    @handler.setter
    def handler(self, handler: LinkHandler | None) -> None:
        self._handler = handler
        while handler is not None and self._held and self._handler is handler:
            handler.on_control(self, self._held.pop(0))

    @property
    def closed(self) -> bool:
        return self._closed is not None

    def send_datagram(self, data: bytes) -> None:
        if self._closed is None and self._frames.readyState == "open":
            self._frames.send(data)

    def send_control(self, message: ControlMessage) -> None:
        if self._closed is None and self._control.readyState == "open":
            self._control.send(encode_control(message))

    def close(self, reason: str = "") -> None:
        if self._closed is None:
            self._terminated(reason or "closed here")
            self._closing = asyncio.ensure_future(self._pc.close())

    def _terminated(self, reason: str) -> None:
        if self._closed is not None:
            return
        self._closed = reason
        if self._handler is not None:
            self._handler.on_closed(self, reason)

    def _on_state(self) -> None:
        if self._pc.connectionState in ("failed", "closed"):
            self._terminated(f"peer connection {self._pc.connectionState}")

    def _on_frame(self, data: bytes | str) -> None:
        if isinstance(data, bytes) and self._handler is not None and self._closed is None:
            self._handler.on_datagram(self, data)

    def _on_control(self, data: bytes | str) -> None:
        if not isinstance(data, bytes) or self._closed is not None:
            return
        try:
            messages = self._reader.feed(data)
        except ProtocolError as exc:
            self.close(f"bad control data: {exc}")
            return
        for message in messages:
            if self._handler is None:
                self._held.append(message)
            else:
                self._handler.on_control(self, message)


class RtcListener:
    def __init__(self, address: tuple[str, int]) -> None:
        self._address = address

    @property
    def address(self) -> tuple[str, int]:
        return self._address

    def close(self) -> None:
        pass


class RtcTransport:
    """``Transport`` over WebRTC data channels, signalled through the node's libp2p host."""

    def __init__(self, node: Node, *, ice_servers: list[str] | None = None) -> None:
        self._node = node
        self._ice_servers = ice_servers or []
        self._on_link: Callable[[Link], None] | None = None
        self._links: set[RtcLink] = set()

    def _peer_connection(self) -> Any:
        from aiortc import RTCConfiguration, RTCIceServer, RTCPeerConnection

        servers = [RTCIceServer(urls=url) for url in self._ice_servers]
        return RTCPeerConnection(RTCConfiguration(iceServers=servers))

    async def listen(self, host: str, on_link: Callable[[Link], None]) -> RtcListener:
        self._on_link = on_link
        self._node.host.set_request_handler(RTC_PROTOCOL_ID, self._answer, max_request_bytes=MAX_SDP_BYTES)
        return RtcListener(rtc_address(self._node.peer_id))

    async def _answer(self, data: bytes, peer: str) -> bytes:
        from aiortc import RTCSessionDescription

        try:
            offer = json.loads(data)
            description = RTCSessionDescription(sdp=str(offer["sdp"]), type="offer")
        except (ValueError, KeyError, TypeError) as exc:
            log.info("bad WebRTC offer from %s: %s", peer, exc)
            return b"{}"
        pc = self._peer_connection()
        link = RtcLink(pc, rtc_address(peer))
        self._links.add(link)

        def opened() -> None:
            if self._on_link is not None:
                self._on_link(link)

        link._control.on("open", opened)
        await pc.setRemoteDescription(description)
        await pc.setLocalDescription(await pc.createAnswer())
        return json.dumps({"sdp": pc.localDescription.sdp}).encode()

    async def connect(
        self, address: tuple[str, int], handler: LinkHandler, *, timeout_s: float = 10.0
    ) -> RtcLink:
        from aiortc import RTCSessionDescription

        if not address[0].startswith(PREFIX):
            raise ConnectionError(f"{address[0]} is not a WebRTC address")
        peer = address[0][len(PREFIX) :]
        pc = self._peer_connection()
        link = RtcLink(pc, address)
        link.handler = handler
        try:
            await pc.setLocalDescription(await pc.createOffer())
            request = json.dumps({"sdp": pc.localDescription.sdp}).encode()
            reply = await self._node.host.request(peer, RTC_PROTOCOL_ID, request, timeout_s=timeout_s)
            answer = json.loads(reply)
            await pc.setRemoteDescription(RTCSessionDescription(sdp=str(answer["sdp"]), type="answer"))
            await asyncio.wait_for(link.opened.wait(), timeout_s)
        except (P2PError, ValueError, KeyError, TypeError, TimeoutError) as exc:
            with contextlib.suppress(Exception):
                await pc.close()
            raise ConnectionError(f"WebRTC to {peer} failed: {exc}") from exc
        except BaseException:
            with contextlib.suppress(Exception):
                await pc.close()
            raise
        self._links.add(link)
        return link
