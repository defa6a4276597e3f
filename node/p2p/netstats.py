"""What the Peers screen says about the network: bytes on the wire, bootstrap, DHT, rendezvous, relay.

Bytes come from the kernel, not from libp2p (which counts nothing): ``TCP_INFO`` on each
connection's socket gives ``tcpi_bytes_acked`` (sent and acknowledged) and
``tcpi_bytes_received``, payload bytes of this host's own TCP connections (Noise framing
included, TCP/IP headers not). Rates are differences between two readings, per connection,
so a connection that closes in between does not make the total jump backwards. Live audio
(QUIC over UDP) is not in these figures: the kernel keeps no per-socket UDP byte counts.
"""

from __future__ import annotations

import socket
import struct
from dataclasses import dataclass, field
from typing import Any

from djmesh.node.clock import monotonic
from djmesh.node.p2p.host import P2PHost
from djmesh.node.p2p.port import Host

# struct tcp_info (linux/tcp.h): tcpi_bytes_acked at byte 120, tcpi_bytes_received at 128 (Linux >= 4.1).
_TCP_INFO_LEN = 136
_BYTES_AT = 120
# How a libp2p connection (py-libp2p 0.8.1) leads down to its TCP socket.
_PATH = (
    "muxed_conn",
    "secured_conn",
    "conn",
    "read_writer",
    "read_write_closer",
    "stream",
    "stream",
    "socket",
)


@dataclass(frozen=True)
class Traffic:
    """Totals over the connections open now: bytes (sent, received) by connection key."""

    at: float
    by_connection: dict[int, tuple[int, int]] = field(default_factory=dict)

    @property
    def sent(self) -> int:
        return sum(sent for sent, _ in self.by_connection.values())

    @property
    def received(self) -> int:
        return sum(received for _, received in self.by_connection.values())


def rates(before: Traffic, after: Traffic) -> tuple[float, float]:
    """Bytes per second (out, in) between two readings, over the connections open at both."""
    elapsed = after.at - before.at
    if elapsed <= 0:
        return 0.0, 0.0
    out = inn = 0
    for key, (sent, received) in after.by_connection.items():
        if key in before.by_connection:
            old_sent, old_received = before.by_connection[key]
            out += max(0, sent - old_sent)
            inn += max(0, received - old_received)
    return out / elapsed, inn / elapsed


def _socket_of(connection: Any) -> Any:
    node = connection
    for name in _PATH:
        node = getattr(node, name, None)
        if node is None:
            return None
    return node


def tcp_counts(sock: Any) -> tuple[int, int] | None:
    """(bytes acked, bytes received) of a TCP socket, or None where the kernel does not say."""
    try:
        info = sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, _TCP_INFO_LEN)
    except (OSError, AttributeError, ValueError):
        return None
    if len(info) < _BYTES_AT + 16:
        return None
    acked, received = struct.unpack_from("=QQ", info, _BYTES_AT)
    return int(acked), int(received)


def traffic(host: Host) -> Traffic:
    """TCP byte counts per libp2p connection (none for a host that is not libp2p, e.g. simulated)."""
    inner = host._host if isinstance(host, P2PHost) else None
    found: dict[int, tuple[int, int]] = {}
    if inner is not None:
        for conns in list(inner.get_network().connections.values()):
            for conn in conns if isinstance(conns, list) else [conns]:
                sock = _socket_of(conn)
                counts = tcp_counts(sock) if sock is not None else None
                if counts is not None:
                    found[id(conn)] = counts
    return Traffic(monotonic(), found)


@dataclass(frozen=True)
class Discovery:
    bootstrap_configured: int
    bootstrap_connected: int
    dht_routing_table: int
    relay_reservations: int
    serving: bool  # a bootstrap itself: DHT server, rendezvous point, relay hop

    def to_json(self) -> dict[str, Any]:
        return {
            "bootstrap_configured": self.bootstrap_configured,
            "bootstrap_connected": self.bootstrap_connected,
            "dht_routing_table": self.dht_routing_table,
            "relay_reservations": self.relay_reservations,
            "serving": self.serving,
        }


def discovery_status(host: Host) -> Discovery:
    if not isinstance(host, P2PHost):
        return Discovery(0, 0, 0, 0, False)
    connected = {peer.peer_id for peer in host.peers()}
    bootstrap_ids = {addr.rsplit("/p2p/", 1)[-1] for addr in host._bootstrap if "/p2p/" in addr}
    state = host._discovery
    table = relays = 0
    serving = False
    if state is not None:
        try:
            table = int(state.dht.routing_table.size())
        except Exception:  # a DHT still starting has no table yet
            table = 0
        relays = len(state.relay.reservations)
        serving = state.serve
    return Discovery(len(host._bootstrap), len(bootstrap_ids & connected), table, relays, serving)


async def _network(node: Any, params: dict[str, Any]) -> Any:
    """Control method ``network``: the readings as they stand; callers take rates between two calls."""
    reading = traffic(node.host)
    return {
        "at": reading.at,
        "connections": {str(key): list(counts) for key, counts in reading.by_connection.items()},
        "sent": reading.sent,
        "received": reading.received,
        "discovery": discovery_status(node.host).to_json(),
    }


NETWORK_METHODS = {"network": _network}
