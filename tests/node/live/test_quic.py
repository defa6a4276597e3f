"""node/live/quic.py: dials over real QUIC on loopback, the ones that fail included."""

from __future__ import annotations

import asyncio
import gc
import socket
from pathlib import Path
from typing import Any

import pytest

from djmesh.node.live.probe import PendingLink
from djmesh.node.live.quic import RECEIVE_BUFFER_BYTES, QuicLink, QuicTransport
from djmesh.node.live.transport import Link


def _silent_udp_port() -> tuple[socket.socket, int]:
    """A bound UDP socket that reads nothing: a peer that never answers a handshake."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    return sock, sock.getsockname()[1]


def test_a_dial_completes_and_one_to_a_silent_peer_times_out_without_leaving_errors_behind() -> None:
    async def main() -> list[dict[str, Any]]:
        loop = asyncio.get_running_loop()
        errors: list[dict[str, Any]] = []
        loop.set_exception_handler(lambda _loop, context: errors.append(context))
        transport = QuicTransport()
        accepted: list[Link] = []
        listener = await transport.listen("127.0.0.1", accepted.append)
        link = await transport.connect(listener.address, PendingLink(), timeout_s=5.0)
        assert not link.closed
        link.close("done")
        sock, port = _silent_udp_port()
        try:
            with pytest.raises(TimeoutError):
                await transport.connect(("127.0.0.1", port), PendingLink(), timeout_s=0.3)
            await asyncio.sleep(4)  # aioquic ends the closed dial after its draining period (3 PTO)
        finally:
            sock.close()
            listener.close()
        gc.collect()  # an unretrieved future's exception is reported when it is collected
        await asyncio.sleep(0)
        return errors

    errors = asyncio.run(main())
    assert errors == [], [e.get("message") for e in errors]


class _Counting:
    """A link handler that counts the datagrams and control messages it gets."""

    def __init__(self) -> None:
        self.datagrams = 0
        self.control: list[object] = []

    def on_datagram(self, link: Link, data: bytes) -> None:
        self.datagrams += 1

    def on_control(self, link: Link, message: object) -> None:
        self.control.append(message)

    def on_closed(self, link: Link, reason: str) -> None:
        pass


def test_a_listener_acknowledges_about_every_other_frame_and_control_still_arrives() -> None:
    """At 50 frames/s one ACK packet covers two frames (``ACK_DELAY_S``), not one ACK per frame."""

    async def main() -> tuple[int, int, list[object]]:
        transport = QuicTransport()
        received = _Counting()
        accepted: list[QuicLink] = []

        def on_link(link: Link) -> None:
            assert isinstance(link, QuicLink)
            link.handler = received
            accepted.append(link)

        listener = await transport.listen("127.0.0.1", on_link)
        link = await transport.connect(listener.address, _Counting(), timeout_s=5.0)
        try:
            await asyncio.sleep(0.3)
            (server,) = accepted
            before = server._quic._packet_number  # packets the listening side has sent: its ACKs, here
            for seq in range(100):
                link.send_datagram(seq.to_bytes(4, "big"))
                await asyncio.sleep(0.02)
            link.send_control({"op": "ping", "n": 1})
            await asyncio.sleep(0.2)
            return received.datagrams, server._quic._packet_number - before, received.control
        finally:
            link.close("done")
            listener.close()

    frames, acks, control = asyncio.run(main())
    assert frames == 100
    assert 35 <= acks <= 70, acks  # ~50; with aioquic's own 1 ms delay it was 100
    assert control == [{"op": "ping", "n": 1}]


def test_both_ends_keep_room_for_what_arrives_while_the_loop_is_busy() -> None:
    """Children's ACKs and pings to a DJ whose loop paused overflowed the default buffer (RcvbufErrors on loopback):
    the pings and vouchers lost held their stream up for a retransmit. Both sockets ask for RECEIVE_BUFFER_BYTES."""
    ceiling = (
        int(Path("/proc/sys/net/core/rmem_max").read_text())
        if Path("/proc/sys/net/core/rmem_max").exists()
        else 0
    )
    wanted = min(RECEIVE_BUFFER_BYTES, ceiling) if ceiling else RECEIVE_BUFFER_BYTES

    async def main() -> tuple[int, int]:
        transport = QuicTransport()
        listener = await transport.listen("127.0.0.1", lambda link: None)
        link = await transport.connect(listener.address, PendingLink(), timeout_s=5.0)
        try:
            server = listener._server._transport
            assert server is not None and link._transport is not None
            sizes = [
                t.get_extra_info("socket").getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF)
                for t in (server, link._transport)
            ]
            return sizes[0], sizes[1]
        finally:
            link.close("done")
            listener.close()

    server_size, client_size = asyncio.run(main())
    assert server_size >= wanted and client_size >= wanted, (server_size, client_size, wanted)
