"""An in-memory network for the live mesh: many hosts in one process, deterministic from a seed.

``SimNetwork.transport(host)`` implements node/live/transport.py's ``Transport``, so the real
relay-tree code (``StreamHub``, ``Subscription``, the probes) runs on it unchanged. Every delay is
a timer on the running loop, so on a ``VirtualTimeLoop`` (node/clock.py) a minute of traffic costs
only the CPU its handlers use, and the same seed gives the same run.

What it models, after what QUIC gives the mesh (node/live/quic.py):

- a path between two hosts has a fixed one-way delay, drawn once per host pair from the profile's
  range (the same both ways); each packet adds uniform jitter, so datagrams can overtake each
  other, and a share of datagrams is held back on purpose (reordering);
- datagrams are lost with the profile's probability; control messages are reliable and in order:
  a lost one arrives a probe timeout (PTO) later and holds up the ones behind it;
- each host's uplink has a rate: packets queue behind each other, and a datagram that would wait
  longer than ``queue_s`` is dropped (a router's buffer);
- a connection takes one round trip (a lost handshake flight costs the initial PTO); dialling a host
  that is down, not listening or cut off times out;
- a crashed host says nothing more: its peers notice by silence, and their links close after the
  QUIC idle timeout; a partition stalls control messages until it heals (they are then sent
  again), and links cut off for the idle timeout close.

Not modelled: congestion control, per-packet header overhead beyond a flat figure, and path MTU.
"""

from __future__ import annotations

import asyncio
import contextvars
import hashlib
import itertools
import logging
import random
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

from djmesh.node.live.transport import ControlMessage, Link, LinkHandler
from djmesh.protocol.errors import ProtocolError
from djmesh.protocol.stream import ControlReader, encode_control

log = logging.getLogger(__name__)

Address = tuple[str, int]
LISTEN_PORT = 4433
IDLE_TIMEOUT_S = 10.0  # node/live/quic.py's idle timeout: a link that hears nothing this long closes
INITIAL_PTO_S = 0.3  # a lost handshake flight is sent again after this long (no RTT estimate yet)
MAX_ACK_DELAY_S = 0.025
PACKET_OVERHEAD_BYTES = 48  # IP + UDP + QUIC short header + AEAD tag, counted against the uplink
MAX_RETRANSMITS = 8


@dataclass(frozen=True)
class LinkProfile:
    """How the paths between hosts behave (delays are one-way)."""

    latency_s: tuple[float, float] = (0.020, 0.080)
    jitter_s: float = 0.0
    loss: float = 0.0
    reorder: float = 0.0
    reorder_s: float = 0.015
    uplink_bps: float | None = None
    queue_s: float = 0.25
    # a node's own handling of each packet it sends or forwards (QUIC, the Python receive and forward path, the
    # event loop's scheduling), uniform between the two; the sim's code runs in zero time, a real node's does not
    hop_s: tuple[float, float] = (0.0, 0.0)

    def __post_init__(self) -> None:
        for name, (low, high) in (("latency_s", self.latency_s), ("hop_s", self.hop_s)):
            if not 0 <= low <= high:
                raise ValueError(f"{name} must be (low, high) with 0 <= low <= high")
        if not 0 <= self.loss < 1 or not 0 <= self.reorder <= 1:
            raise ValueError("loss must be in [0, 1) and reorder in [0, 1]")
        if self.jitter_s < 0 or self.reorder_s < 0 or self.queue_s < 0:
            raise ValueError("jitter_s, reorder_s and queue_s must not be negative")
        if self.uplink_bps is not None and self.uplink_bps <= 0:
            raise ValueError("uplink_bps must be positive")


@dataclass
class NetworkStats:
    datagrams_sent: int = 0
    datagrams_lost: int = 0  # to the loss probability
    datagrams_dropped: int = 0  # to a dead host, a partition or a full uplink queue
    control_sent: int = 0
    control_retransmits: int = 0
    bytes_sent: int = 0
    connects: int = 0
    connect_timeouts: int = 0


@dataclass
class _Host:
    name: str
    alive: bool = True
    side: int = 0  # hosts on different sides of a partition cannot reach each other
    listener: SimListener | None = None
    links: dict[int, SimLink] = field(default_factory=dict)
    uplink_free_at: float = 0.0
    ports: Iterator[int] = field(default_factory=lambda: itertools.count(49152))
    # the context the host's own code runs in (a simulated node's clock: node/clock.py); arrivals run in it
    context: contextvars.Context | None = None

    def arrival_context(self) -> contextvars.Context | None:
        return self.context.copy() if self.context is not None else None


class SimLink:
    """One side of an in-memory connection, as a ``Link``."""

    def __init__(self, network: SimNetwork, host: _Host, remote: Address, serial: int) -> None:
        self.remote = remote
        self.handler: LinkHandler | None = None
        self.peer: SimLink | None = None
        self.serial = serial
        self._network = network
        self._host = host
        self._closed_reason: str | None = None
        self._reader = ControlReader()
        self._control_at = 0.0  # when the last control message sent from this side arrives (order)
        self._stalled: list[bytes] = []  # control sent while cut off: sent again when the path heals
        # What the peer sent on the control stream, in order (bytes, or the reason it closed): each
        # arrival timer takes the oldest, as timers due at the same moment may fire in any order.
        self._arriving: deque[bytes | tuple[str]] = deque()

    @property
    def host(self) -> str:
        return self._host.name

    @property
    def closed(self) -> bool:
        return self._closed_reason is not None

    def send_datagram(self, data: bytes) -> None:
        if self._closed_reason is None:
            self._network._send_datagram(self, data)

    def send_control(self, message: ControlMessage) -> None:
        if self._closed_reason is None:
            self._network._send_control(self, encode_control(message))

    def close(self, reason: str = "") -> None:
        if self._closed_reason is None:
            self._network._send_close(self, reason[:100])
            self._terminated(reason or "closed here")

    def _terminated(self, reason: str) -> None:
        if self._closed_reason is not None:
            return
        self._closed_reason = reason
        self._host.links.pop(self.serial, None)
        if self.handler is not None:
            self.handler.on_closed(self, reason)

    def _receive_datagram(self, data: bytes) -> None:
        if self._closed_reason is None and self.handler is not None:
            try:
                self.handler.on_datagram(self, data)
            except Exception:  # as QuicLink: a bug in a handler costs this link
                log.exception("sim link %s: handler failed; closing the link", self.remote)
                self.close("internal error")

    def _receive_control(self, wire: bytes) -> None:
        if self._closed_reason is not None:
            return
        try:
            messages = self._reader.feed(wire)
        except ProtocolError as exc:
            self.close(f"bad control data: {exc}")
            return
        for message in messages:
            if self.handler is None or self._closed_reason is not None:
                return
            try:
                self.handler.on_control(self, message)
            except Exception:
                log.exception("sim link %s: handler failed; closing the link", self.remote)
                self.close("internal error")
                return


class SimListener:
    def __init__(self, network: SimNetwork, host: _Host, on_link: Callable[[Link], None]) -> None:
        self._network = network
        self._host = host
        self.on_link = on_link

    @property
    def address(self) -> Address:
        return (self._host.name, LISTEN_PORT)

    def close(self) -> None:
        if self._host.listener is self:
            self._host.listener = None


class SimTransport:
    """The ``Transport`` of one host on a ``SimNetwork``."""

    def __init__(self, network: SimNetwork, host: _Host) -> None:
        self._network = network
        self._host = host

    @property
    def host(self) -> str:
        return self._host.name

    async def listen(self, host: str, on_link: Callable[[Link], None]) -> SimListener:
        if self._host.listener is not None:
            raise OSError(f"{self._host.name}:{LISTEN_PORT} is already listening")
        listener = SimListener(self._network, self._host, on_link)
        self._host.listener = listener
        return listener

    async def connect(self, address: Address, handler: LinkHandler, *, timeout_s: float = 5.0) -> SimLink:
        return await self._network._connect(self._host, address, handler, timeout_s)


class SimNetwork:
    def __init__(self, seed: int, profile: LinkProfile | None = None) -> None:
        self.seed = seed
        self.profile = profile if profile is not None else LinkProfile()
        self.stats = NetworkStats()
        self._rng = random.Random(seed)
        self._hosts: dict[str, _Host] = {}
        self._paths: dict[tuple[str, str], float] = {}
        self._serials = itertools.count(1)

    # -- hosts -----------------------------------------------------------------------------------

    def transport(self, host: str) -> SimTransport:
        """The transport of ``host`` (created on first use)."""
        known = self._hosts.get(host)
        if known is None:
            known = self._hosts[host] = _Host(host)
        known.context = contextvars.copy_context()
        return SimTransport(self, known)

    def alive(self, host: str) -> bool:
        known = self._hosts.get(host)
        return known is not None and known.alive

    def crash(self, host: str) -> None:
        """``host`` stops dead: it sends nothing more; its peers' links close after the idle timeout."""
        known = self._hosts[host]
        known.alive = False
        known.listener = None
        for link in list(known.links.values()):
            link._stalled.clear()
            if link.peer is not None:
                self._idle_check(link.peer)

    def revive(self, host: str) -> None:
        """``host`` is back (a restart: its old links are gone; it must listen again)."""
        known = self._hosts[host]
        for link in list(known.links.values()):
            link._terminated("restarted")
        known.alive = True
        known.uplink_free_at = 0.0

    def partition(self, *groups: Iterable[str]) -> None:
        """Cut ``groups`` off from each other and from every host in none of them."""
        for known in self._hosts.values():
            known.side = 0
        for index, group in enumerate(groups, start=1):
            for host in group:
                self._hosts[host].side = index
        for known in self._hosts.values():
            for link in known.links.values():
                if link.peer is not None and not self._reachable(known, link.peer._host):
                    self._idle_check(link)

    def heal(self) -> None:
        """End every partition; control messages held up by it are sent again."""
        for known in self._hosts.values():
            known.side = 0
        for known in self._hosts.values():
            for link in list(known.links.values()):
                stalled, link._stalled = link._stalled, []
                for wire in stalled:
                    if not link.closed:
                        self._transmit_control(link, wire)

    def one_way_s(self, a: str, b: str) -> float:
        """The fixed one-way delay between two hosts (drawn from the seed and the pair, the same both ways)."""
        key = (a, b) if a <= b else (b, a)
        delay = self._paths.get(key)
        if delay is None:
            digest = hashlib.blake2b(f"{self.seed}|{key[0]}|{key[1]}".encode(), digest_size=8).digest()
            low, high = self.profile.latency_s
            delay = low + (high - low) * int.from_bytes(digest, "big") / 2**64
            self._paths[key] = delay
        return delay

    def reachable(self, a: str, b: str) -> bool:
        host_a, host_b = self._hosts.get(a), self._hosts.get(b)
        return host_a is not None and host_b is not None and self._reachable(host_a, host_b)

    @staticmethod
    def _reachable(a: _Host, b: _Host) -> bool:
        return a.alive and b.alive and a.side == b.side

    # -- connections -----------------------------------------------------------------------------

    async def _connect(self, src: _Host, address: Address, handler: LinkHandler, timeout_s: float) -> SimLink:
        if not src.alive:
            raise ConnectionError(f"{src.name} is down")
        self.stats.connects += 1
        target = self._hosts.get(address[0])
        one_way = self.one_way_s(src.name, address[0])
        handshake = 2 * one_way
        for _ in range(MAX_RETRANSMITS):
            if not self._lost():
                break
            handshake += INITIAL_PTO_S
        if self._answers(src, target, address) and handshake <= timeout_s:
            await asyncio.sleep(handshake)
            if self._answers(src, target, address):
                assert target is not None and target.listener is not None
                client = SimLink(self, src, address, next(self._serials))
                server = SimLink(self, target, (src.name, next(src.ports)), next(self._serials))
                client.peer, server.peer = server, client
                client.handler = handler
                src.links[client.serial] = client
                target.links[server.serial] = server
                # before anything the client sends can arrive; in the listener's own context (its clock)
                arrival = target.arrival_context()
                if arrival is not None:
                    arrival.run(target.listener.on_link, server)
                else:
                    target.listener.on_link(server)
                return client
            await asyncio.sleep(max(0.0, timeout_s - handshake))
        else:
            await asyncio.sleep(timeout_s)
        self.stats.connect_timeouts += 1
        raise TimeoutError(f"no answer from {address[0]}:{address[1]}")

    def _answers(self, src: _Host, target: _Host | None, address: Address) -> bool:
        return (
            target is not None
            and target.listener is not None
            and address[1] == LISTEN_PORT
            and self._reachable(src, target)
        )

    # -- packets ---------------------------------------------------------------------------------

    def _lost(self) -> bool:
        return self.profile.loss > 0 and self._rng.random() < self.profile.loss

    def _jitter(self) -> float:
        """The packet's delay beyond the path's: jitter, and the sender's handling (``hop_s``)."""
        jitter = self._rng.random() * self.profile.jitter_s if self.profile.jitter_s > 0 else 0.0
        low, high = self.profile.hop_s
        return jitter + (self._rng.uniform(low, high) if high > 0 else 0.0)

    def _depart(self, host: _Host, size: int, now: float, *, droppable: bool) -> float | None:
        """When a packet of ``size`` bytes leaves ``host``'s uplink (None: the queue is full, dropped)."""
        rate = self.profile.uplink_bps
        if rate is None:
            return now
        start = max(now, host.uplink_free_at)
        if droppable and start - now > self.profile.queue_s:
            return None
        host.uplink_free_at = start + (size + PACKET_OVERHEAD_BYTES) * 8 / rate
        return host.uplink_free_at

    def _send_datagram(self, link: SimLink, data: bytes) -> None:
        self.stats.datagrams_sent += 1
        src, peer = link._host, link.peer
        if peer is None or not self._reachable(src, peer._host):
            self.stats.datagrams_dropped += 1
            return
        if self._lost():
            self.stats.datagrams_lost += 1
            return
        loop = asyncio.get_running_loop()
        depart = self._depart(src, len(data), loop.time(), droppable=True)
        if depart is None:
            self.stats.datagrams_dropped += 1
            return
        self.stats.bytes_sent += len(data)
        at = depart + self.one_way_s(src.name, peer._host.name) + self._jitter()
        if self.profile.reorder > 0 and self._rng.random() < self.profile.reorder:
            at += self.profile.reorder_s
        loop.call_at(at, self._arrive_datagram, peer, data, context=peer._host.arrival_context())

    def _arrive_datagram(self, link: SimLink, data: bytes) -> None:
        if link._host.alive:
            link._receive_datagram(data)

    def _send_control(self, link: SimLink, wire: bytes) -> None:
        self.stats.control_sent += 1
        src, peer = link._host, link.peer
        if peer is None or not src.alive:
            return  # a dead host says nothing
        if not self._reachable(src, peer._host):
            link._stalled.append(wire)
            return
        self._transmit_control(link, wire)

    def _transmit_control(self, link: SimLink, wire: bytes) -> None:
        src, peer = link._host, link.peer
        assert peer is not None
        loop = asyncio.get_running_loop()
        one_way = self.one_way_s(src.name, peer._host.name)
        delay = one_way + self._jitter()
        for _ in range(MAX_RETRANSMITS):
            if not self._lost():
                break
            self.stats.control_retransmits += 1
            delay += 3 * one_way + MAX_ACK_DELAY_S  # QUIC's PTO: srtt + 4 rttvar + max_ack_delay, roughly
        depart = self._depart(src, len(wire), loop.time(), droppable=False)
        assert depart is not None
        self.stats.bytes_sent += len(wire)
        at = max(depart + delay, link._control_at)
        link._control_at = at
        peer._arriving.append(wire)
        loop.call_at(at, self._arrive_control, peer, context=peer._host.arrival_context())

    def _arrive_control(self, link: SimLink) -> None:
        item = link._arriving.popleft()
        if not link._host.alive:
            return
        if isinstance(item, bytes):
            link._receive_control(item)
        else:
            link._terminated(item[0])

    def _send_close(self, link: SimLink, reason: str) -> None:
        src, peer = link._host, link.peer
        if peer is None or peer.closed:
            return
        if not self._reachable(src, peer._host):
            self._idle_check(peer)  # the peer never hears it: it times out
            return
        loop = asyncio.get_running_loop()
        at = max(loop.time() + self.one_way_s(src.name, peer._host.name), link._control_at)
        link._control_at = at
        peer._arriving.append((reason or "closed by peer",))
        loop.call_at(at, self._arrive_control, peer, context=peer._host.arrival_context())

    def _idle_check(self, link: SimLink) -> None:
        """``link`` hears nothing from now on: close it after the idle timeout unless its path is back."""
        loop = asyncio.get_running_loop()
        loop.call_at(loop.time() + IDLE_TIMEOUT_S, self._idle_expired, link)

    def _idle_expired(self, link: SimLink) -> None:
        peer = link.peer
        if link.closed or not link._host.alive:
            return
        if peer is None or peer.closed or not self._reachable(link._host, peer._host):
            link._terminated("idle timeout")
