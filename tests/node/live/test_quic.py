"""node/live/quic.py: dials over real QUIC on loopback, the ones that fail included."""

from __future__ import annotations

import asyncio
import gc
import socket
from typing import Any

import pytest

from djmesh.node.live.probe import PendingLink
from djmesh.node.live.quic import QuicTransport
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
