"""QUIC links (aioquic): DATAGRAM frames (RFC 9221) for live frames, stream 0 for control.

The certificate is self-signed and not checked: what a link carries is authenticated by the
DJ's segment signatures, not by the transport (a relay is untrusted anyway).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import logging
import socket
import ssl
from collections.abc import Callable
from typing import Any

from aioquic.asyncio.protocol import QuicConnectionProtocol
from aioquic.asyncio.server import QuicServer
from aioquic.quic.configuration import QuicConfiguration
from aioquic.quic.connection import QuicConnection
from aioquic.quic.events import (
    ConnectionTerminated,
    DatagramFrameReceived,
    HandshakeCompleted,
    QuicEvent,
    StreamDataReceived,
)
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from djmesh.node.clock import wait_set
from djmesh.node.live.transport import ControlMessage, Link, LinkHandler
from djmesh.node.live.udp import bound_socket, open_endpoint
from djmesh.protocol.errors import ProtocolError
from djmesh.protocol.stream import MAX_FRAME_DATAGRAM, ControlReader, encode_control

log = logging.getLogger(__name__)

ALPN = "djmesh-live/1"
IDLE_TIMEOUT_S = 10.0
MAX_DATAGRAM_FRAME = 1500  # what we accept; we send at most MAX_FRAME_DATAGRAM (aioquic's 1,200-byte packets)
# aioquic acknowledges an ack-eliciting packet 1 ms after it came (its ``_ack_delay``, not configurable): with a
# frame every 20 ms that is an ACK packet per frame, built, encrypted, sent, and processed by the parent. Waiting
# longer than a frame interval lets one ACK cover two frames (RFC 9000 section 13.2.2: every second packet): 25 ms,
# the max_ack_delay aioquic advertises, which the peer's loss timer already allows for. Measured on one loopback
# link at 50 frames/s: 250 ACK packets per 500 frames instead of 500 (20 ms still sent 500: the next frame came
# just after each ACK), 680-860 instead of 840-970 us of CPU per frame for both ends (bench/quic_acks.py).
ACK_DELAY_S = 0.025
_CERT: tuple[x509.Certificate, ec.EllipticCurvePrivateKey] | None = None


def _certificate() -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    global _CERT
    if _CERT is None:
        key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "djmesh-live")])
        now = datetime.datetime.now(datetime.UTC)
        cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=365))
            .sign(key, hashes.SHA256())
        )
        _CERT = (cert, key)
    return _CERT


def _configuration(is_client: bool) -> QuicConfiguration:
    config = QuicConfiguration(
        is_client=is_client,
        alpn_protocols=[ALPN],
        max_datagram_frame_size=MAX_DATAGRAM_FRAME,
        idle_timeout=IDLE_TIMEOUT_S,
    )
    if is_client:
        config.verify_mode = ssl.CERT_NONE
    else:
        config.certificate, config.private_key = _certificate()
    return config


class QuicLink(QuicConnectionProtocol):
    """One QUIC connection as a ``Link``."""

    def __init__(
        self, quic: QuicConnection, *args: Any, on_link: Callable[[Link], None] | None = None
    ) -> None:
        super().__init__(quic, *args)
        if hasattr(quic, "_ack_delay"):  # aioquic's own delay (see ACK_DELAY_S); kept if a version renames it
            quic._ack_delay = ACK_DELAY_S
        self.handler: LinkHandler | None = None
        self.remote: tuple[str, int] = ("", 0)
        self._reader = ControlReader()
        self._control_stream: int | None = None
        self._on_link = on_link
        self._closed_reason: str | None = None
        self.owns_socket = False  # client links have a UDP socket of their own to close
        # the handshake completed or the link closed; ``connect`` waits on this instead of aioquic's
        # ``wait_connected``, whose shielded waiter, left behind by a timed-out dial, is failed later with an
        # exception nobody retrieves (an "ERROR asyncio: Future exception was never retrieved" per dial)
        self._settled = asyncio.Event()
        self._handshake_done = False

    @property
    def closed(self) -> bool:
        return self._closed_reason is not None

    def send_datagram(self, data: bytes) -> None:
        if len(data) > MAX_FRAME_DATAGRAM:
            # aioquic would queue it for ever (its packets are 1,200 bytes), stalling every later datagram
            log.warning("live link %s: datagram of %d bytes not sent", self.remote, len(data))
            return
        if self._closed_reason is None:
            self._quic.send_datagram_frame(data)
            self.transmit()

    def send_control(self, message: ControlMessage) -> None:
        if self._closed_reason is not None:
            return
        if self._control_stream is None:
            self._control_stream = self._quic.get_next_available_stream_id()
        self._quic.send_stream_data(self._control_stream, encode_control(message))
        self.transmit()

    def close(self, reason: str = "") -> None:  # type: ignore[override]
        if self._closed_reason is None:
            super().close(reason_phrase=reason[:100])
            self._terminated(reason or "closed here")

    def _terminated(self, reason: str) -> None:
        if self._closed_reason is not None:
            return
        self._closed_reason = reason
        self._settled.set()
        if self.owns_socket and self._transport is not None:
            transport = self._transport
            self._loop.call_later(0.2, transport.close)  # after CONNECTION_CLOSE went out
        if self.handler is not None:
            self.handler.on_closed(self, reason)

    def quic_event_received(self, event: QuicEvent) -> None:
        try:
            self._dispatch(event)
        except Exception:  # a bug in a handler must cost this link, not the shared UDP socket
            log.exception("live link %s: handler failed; closing the link", self.remote)
            self.close("internal error")

    def _dispatch(self, event: QuicEvent) -> None:
        if isinstance(event, DatagramFrameReceived):
            if self.handler is not None and self._closed_reason is None:
                self.handler.on_datagram(self, event.data)
        elif isinstance(event, StreamDataReceived):
            if self._control_stream is None:
                self._control_stream = event.stream_id
            if event.stream_id != self._control_stream:
                return
            try:
                messages = self._reader.feed(event.data)
            except ProtocolError as exc:
                log.info("closing link to %s: bad control data (%s)", self.remote, exc)
                self.close(f"bad control data: {exc}")
                return
            for message in messages:
                if self.handler is not None and self._closed_reason is None:
                    self.handler.on_control(self, message)
        elif isinstance(event, HandshakeCompleted):
            self._handshake_done = True
            self._settled.set()
            if self._transport is not None:
                peer = self._transport.get_extra_info("peername")
                if peer:
                    self.remote = (str(peer[0]).removeprefix("::ffff:"), int(peer[1]))
            if self._on_link is not None:
                self._on_link(self)
        elif isinstance(event, ConnectionTerminated):
            self._terminated(event.reason_phrase or f"connection closed (error {event.error_code})")
        # The base class wraps streams in asyncio StreamWriters whose garbage collection sends a FIN:
        # our control stream is ours alone, so it never sees stream events.


# Room for the datagrams that arrive while our event loop is busy. Children ACK the audio (tens of small packets
# a second each) and ping on one socket; a loop pausing 0.5 s overflowed the default 208 KiB, mostly kernel
# overhead per small packet: pings and vouchers were lost and their stream waited for a retransmit (1-4 s, time
# enough for a paywall to cut a paying listener off). The kernel caps this at net.core.rmem_max.
RECEIVE_BUFFER_BYTES = 4 * 1024 * 1024


def _roomy_socket(host: str) -> socket.socket:
    """A UDP socket bound to ``host`` (any port) that asks for RECEIVE_BUFFER_BYTES of receive buffer."""
    sock = bound_socket(host)
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RECEIVE_BUFFER_BYTES)
    return sock


class QuicListener:
    def __init__(self, server: QuicServer) -> None:
        self._server = server

    @property
    def address(self) -> tuple[str, int]:
        transport = self._server._transport
        assert transport is not None
        host, port = transport.get_extra_info("sockname")[:2]
        return str(host), int(port)

    def close(self) -> None:
        self._server.close()


class QuicTransport:
    async def listen(self, host: str, on_link: Callable[[Link], None]) -> QuicListener:
        def create(quic: QuicConnection, *args: Any, **kwargs: Any) -> QuicLink:
            return QuicLink(quic, on_link=on_link)

        server = QuicServer(configuration=_configuration(False), create_protocol=create)
        open_endpoint(_roomy_socket(host), server)
        return QuicListener(server)

    async def connect(
        self, address: tuple[str, int], handler: LinkHandler, *, timeout_s: float = 5.0
    ) -> QuicLink:
        config = _configuration(True)
        config.server_name = "djmesh-live"
        link = QuicLink(QuicConnection(configuration=config))
        transport = open_endpoint(_roomy_socket("::" if ":" in address[0] else "0.0.0.0"), link)
        link.owns_socket = True
        link.handler = handler
        link.remote = address
        try:
            link.connect(address)
            await wait_set(link._settled, timeout_s)
            if not link._handshake_done:
                if link.closed:
                    raise ConnectionError(f"QUIC handshake with {address} failed: {link._closed_reason}")
                raise TimeoutError(f"no QUIC handshake with {address} within {timeout_s} s")
        except BaseException:
            link.close("connect failed")
            transport.close()
            raise

        return link
