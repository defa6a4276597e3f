"""What the live mesh needs from a transport, so QUIC and WebRTC links are interchangeable.

A link carries unreliable datagrams (live Opus frames) and one reliable, ordered control
channel (join, segment manifests, keepalives, recovery). ``LinkHandler`` gets what arrives.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Protocol

from djmesh.protocol.cbor import CborValue
from djmesh.protocol.errors import ProtocolError
from djmesh.protocol.relay import RelayMessage, decode_relay

log = logging.getLogger(__name__)

ControlMessage = dict[str, CborValue]


class LinkHandler(Protocol):
    def on_datagram(self, link: Link, data: bytes) -> None: ...

    def on_control(self, link: Link, message: ControlMessage) -> None: ...

    def on_closed(self, link: Link, reason: str) -> None: ...


class Link(Protocol):
    """One peer connection (either side)."""

    remote: tuple[str, int]
    handler: LinkHandler | None

    @property
    def closed(self) -> bool: ...

    def send_datagram(self, data: bytes) -> None: ...

    def send_control(self, message: ControlMessage) -> None: ...

    def close(self, reason: str = "") -> None: ...


class Listener(Protocol):
    """A bound server: ``address`` is what peers dial."""

    @property
    def address(self) -> tuple[str, int]: ...

    def close(self) -> None: ...


class Transport(Protocol):
    async def listen(self, host: str, on_link: Callable[[Link], None]) -> Listener: ...

    async def connect(self, address: tuple[str, int], handler: LinkHandler, *, timeout_s: float) -> Link: ...


def send(link: Link, message: RelayMessage) -> None:
    """Send one typed relay-tree message (its size is bounded by construction)."""
    link.send_control(message.to_value())


def read(link: Link, value: ControlMessage) -> RelayMessage | None:
    """The typed message in ``value``, or None after logging why it is dropped (never raises)."""
    try:
        return decode_relay(value)
    except ProtocolError as exc:
        log.info("dropped a control message from %s: %s", link.remote, exc)
        return None
