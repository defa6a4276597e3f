"""A UDP endpoint for asyncio that reads every datagram waiting on its socket each time the loop wakes it.

asyncio's own datagram transport reads one datagram per turn of the event loop. A node's loop runs many
callbacks per turn (frame playout, timers, other links), and a busy loop takes a few ms per turn: a socket
that receives audio frames, ACKs and pings from several peers then falls behind, and the backlog waits in
the kernel's receive buffer. In the TUI demo with both cores busy the queue reached 170 KB (2-3 s of
packets), which QUIC reads as a round trip of 2-3 s: the sender's congestion window filled, frames queued
behind it, and children went silent to their parents and were dropped. Reading up to ``READ_BATCH``
datagrams per wakeup keeps the queue as short as the loop's own pauses.

Only public asyncio API: the socket is ours, registered with ``loop.add_reader``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from typing import Any

log = logging.getLogger(__name__)

#: datagrams read per wakeup at most, so that one flooded socket cannot hold the loop for ever: a full batch is
#: tens of ms of aioquic's work here (both ends of one link take about 1.1 ms of CPU per frame, bench/quic_acks.py),
#: and only a backlog fills one; the rest waits for the next turn
READ_BATCH = 64
#: what one recvfrom may return: more than any QUIC packet (aioquic sends at most 1,200 bytes)
MAX_READ = 65_535


class BatchedDatagramTransport(asyncio.DatagramTransport):
    def __init__(
        self, loop: asyncio.AbstractEventLoop, sock: socket.socket, protocol: asyncio.DatagramProtocol
    ):
        super().__init__()
        self._loop = loop
        self._sock = sock
        self._protocol = protocol
        self._closing = False
        self._sent_dropped = 0
        self._extra = {"socket": sock, "sockname": sock.getsockname()}
        loop.add_reader(sock.fileno(), self._read_ready)
        protocol.connection_made(self)

    def _read_ready(self) -> None:
        for _ in range(READ_BATCH):
            if self._closing:
                return
            try:
                data, addr = self._sock.recvfrom(MAX_READ)
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:  # e.g. ICMP port unreachable reported on the socket
                self._protocol.error_received(exc)
                continue
            self._protocol.datagram_received(data, addr)

    def sendto(self, data: bytes | bytearray | memoryview, addr: Any = None) -> None:
        if self._closing:
            return
        try:
            if addr is None:
                self._sock.send(data)
            else:
                self._sock.sendto(data, addr)
        except (BlockingIOError, InterruptedError):
            # the kernel's send buffer is full: a datagram lost, as on the wire (QUIC resends what matters)
            self._sent_dropped += 1
            if self._sent_dropped & (self._sent_dropped - 1) == 0:
                log.info(
                    "udp %s: send buffer full, %d datagrams dropped",
                    self._extra["sockname"],
                    self._sent_dropped,
                )
        except OSError as exc:
            self._protocol.error_received(exc)

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return self._extra.get(name, default)

    def is_closing(self) -> bool:
        return self._closing

    def close(self) -> None:
        if self._closing:
            return
        self._closing = True
        self._loop.remove_reader(self._sock.fileno())
        self._loop.call_soon(self._finish)

    def abort(self) -> None:
        self.close()

    def _finish(self) -> None:
        try:
            self._protocol.connection_lost(None)
        finally:
            with contextlib.suppress(OSError):
                self._sock.close()

    def get_write_buffer_size(self) -> int:
        return 0


def bound_socket(host: str, port: int = 0) -> socket.socket:
    """A non-blocking UDP socket bound to ``host``:``port`` (IPv6 when the host is)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_DGRAM)
    try:
        sock.setblocking(False)
        sock.bind((host, port))
    except BaseException:
        sock.close()
        raise
    return sock


def open_endpoint(sock: socket.socket, protocol: asyncio.DatagramProtocol) -> BatchedDatagramTransport:
    """Serve ``protocol`` on ``sock`` (already bound, non-blocking) on the running loop."""
    return BatchedDatagramTransport(asyncio.get_running_loop(), sock, protocol)
