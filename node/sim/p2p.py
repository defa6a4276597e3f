"""An in-memory peer-to-peer host: gossip, history sync and requests for many real ``Node``s in one process.

``SimP2PNetwork.factory()`` goes into ``NodeOptions.host_factory``; each node then gets a ``SimP2PHost``
(node/p2p/port.py's ``Host``) instead of a libp2p one, on the paths of a ``SimNetwork`` (the live mesh's
in-memory network), so one seed and one ``LinkProfile`` give both the same delays, partitions and crashes.
Every delay is a timer on the running loop: on a ``VirtualTimeLoop`` the run costs only its CPU and repeats.

What it models, after the libp2p host (node/p2p/host.py):

- connections are reliable streams: a message takes the path's one-way delay plus jitter, and a lost
  packet costs a retransmission (``RETRANSMIT_S``) instead of the message; a partition holds messages
  back until it heals, and one longer than ``CONNECTION_TIMEOUT_S`` closes the connection and loses what
  was in flight (history sync is what recovers it, as with libp2p); a crash closes it at once;
- GossipSub keeps a mesh of ``MESH_DEGREE`` peers per topic among the connected peers that joined it; a
  message goes to the mesh, each receiver validates it once (by message ID), delivers and forwards what it
  ACCEPTs, forwards nothing else, and scores a forwarder down for a REJECT (graylisted below -80, as
  node/p2p/gossip.py configures py-libp2p); an IGNORE costs nothing;
- a publisher not in a topic's mesh sends to ``MESH_DEGREE`` connected peers that are (fanout);
- requests are served by the handler registered for the protocol, at most 32 at once, each way one path
  delay; a request to a peer that is not connected, crashed or cut off times out;
- discovery is a shared registry of namespaces (what the bootstrap's rendezvous gives); a lookup
  returns a random sample of the namespace's providers.

Not modelled: IHAVE/IWANT gossip (a message lost to a partition is recovered by history sync only),
peer exchange, publish pacing, connection limits and the DHT.
"""

from __future__ import annotations

import asyncio
import contextvars
import hashlib
import logging
import random
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

from djmesh.node.p2p.errors import P2PError
from djmesh.node.p2p.host import PeerInfo
from djmesh.node.p2p.port import Host, HostFactory
from djmesh.node.p2p.topics import OnMessage, TopicState, Validator, Verdict
from djmesh.node.sim.network import SimNetwork
from djmesh.protocol.peer_id import peer_id_from_public_key

log = logging.getLogger(__name__)

MESH_DEGREE = 8
RETRANSMIT_S = 0.2  # a lost TCP segment is sent again after about one RTO
RETRY_S = 0.5  # how often a connection held up by a partition tries again
CONNECTION_TIMEOUT_S = 15.0  # a partition longer than this closes the connection (libp2p's keepalive)
REJECT_PENALTY = 10.0
GRAYLIST_SCORE = -80.0
SEEN_MESSAGES = 20_000
MAX_CONCURRENT_REQUESTS = 32
HANDLER_TIMEOUT_S = 30.0
SIM_PREFIX = "/sim/p2p/"

Handler = Callable[[bytes, str], Awaitable[bytes]]


@dataclass
class _Topic:
    state: TopicState
    mesh: set[str] = field(default_factory=set)


class SimP2PNetwork:
    """The hosts of one simulated run, over a ``SimNetwork``'s paths."""

    def __init__(self, network: SimNetwork, *, seed: int = 0) -> None:
        self.network = network
        self.rng = random.Random(seed)
        self.hosts: dict[str, SimP2PHost] = {}
        self.namespaces: dict[str, list[str]] = {}
        self.messages_sent = 0
        self.messages_lost = 0

    def factory(self) -> HostFactory:
        """For ``NodeOptions.host_factory``."""

        def build(seed: bytes, listen: list[str], bootstrap: list[str]) -> Host:
            return SimP2PHost(self, seed, bootstrap)

        return build

    def address(self, peer_id: str) -> str:
        return SIM_PREFIX + peer_id

    def up(self, a: str, b: str) -> bool:
        """Whether a connection between two hosts carries anything now."""
        return self.network.alive(a) and self.network.alive(b) and self.network.reachable(a, b)

    def both_alive(self, a: str, b: str) -> bool:
        return self.network.alive(a) and self.network.alive(b)

    def _delay(self, a: str, b: str) -> float:
        delay = self.network.one_way_s(a, b) + self.rng.uniform(0, self.network.profile.jitter_s)
        while self.rng.random() < self.network.profile.loss:
            delay += RETRANSMIT_S
            self.messages_lost += 1
        return delay

    def send(self, src: str, dst: str, deliver: Callable[[], None]) -> None:
        """Carry one message from ``src`` to ``dst`` over their connection (see ``_carry``)."""
        self.messages_sent += 1
        loop = asyncio.get_running_loop()
        self._carry(src, dst, deliver, loop.time() + CONNECTION_TIMEOUT_S)

    def _carry(self, src: str, dst: str, deliver: Callable[[], None], give_up_at: float) -> None:
        """Like TCP: a partition holds the message back (sent again until it heals); one that outlasts the
        connection timeout closes the connection and loses it; a crashed end loses it at once."""
        loop = asyncio.get_running_loop()
        if not self.both_alive(src, dst):
            return
        if not self.up(src, dst):
            if loop.time() < give_up_at:
                loop.call_later(RETRY_S, self._carry, src, dst, deliver, give_up_at)
            elif (host := self.hosts.get(src)) is not None:
                host._disconnect(dst)
            return

        def arrive() -> None:
            target = self.hosts.get(dst)
            if target is not None and target.running and src in target.connected:
                deliver()

        loop.call_later(self._delay(src, dst), arrive, context=self.context_of(dst))

    def context_of(self, peer: str) -> contextvars.Context | None:
        """The context ``peer``'s own code runs in (its clock: node/clock.py), for what arrives there."""
        host = self.hosts.get(peer)
        return host.context.copy() if host is not None else None

    async def travel(self, src: str, dst: str) -> bool:
        """Wait one path delay (longer across a partition that heals in time); False if the connection is
        lost meanwhile."""
        loop = asyncio.get_running_loop()
        give_up_at = loop.time() + CONNECTION_TIMEOUT_S
        while not self.up(src, dst):
            if not self.both_alive(src, dst) or loop.time() >= give_up_at:
                return False
            await asyncio.sleep(RETRY_S)
        await asyncio.sleep(self._delay(src, dst))
        return self.both_alive(src, dst)


class SimP2PHost:
    """One node's host on a ``SimP2PNetwork`` (the same asyncio face as ``P2PHost``)."""

    def __init__(self, net: SimP2PNetwork, seed: bytes, bootstrap: list[str]) -> None:
        import nacl.signing

        self.net = net
        self._peer_id = peer_id_from_public_key(bytes(nacl.signing.SigningKey(seed).verify_key))
        self._bootstrap = list(bootstrap)
        self.connected: set[str] = set()
        self.scores: dict[str, float] = {}
        self._topics: dict[str, _Topic] = {}
        self._seen: OrderedDict[bytes, None] = OrderedDict()
        self._handlers: dict[str, tuple[Handler, int]] = {}
        self._slots = asyncio.Semaphore(MAX_CONCURRENT_REQUESTS)
        self.running = False
        # built inside its node's context: what arrives here runs in it (a simulated node's own clock)
        self.context = contextvars.copy_context()

    # -- lifecycle ------------------------------------------------------------------------------

    @property
    def peer_id(self) -> str:
        return self._peer_id

    @property
    def listen_addrs(self) -> list[str]:
        return [self.net.address(self._peer_id)] if self.running else []

    @property
    def relay_addrs(self) -> list[str]:
        return []

    async def __aenter__(self) -> SimP2PHost:
        if self._peer_id in self.net.hosts and self.net.hosts[self._peer_id].running:
            raise P2PError(f"{self._peer_id} is already running on this network")
        self.net.hosts[self._peer_id] = self
        self.net.network.transport(self._peer_id)  # a host on the paths (the live mesh may use it too)
        self.running = True
        for address in self._bootstrap:
            try:
                await self.connect(address)
            except P2PError as exc:
                log.warning("bootstrap peer unreachable: %s", exc)
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.running = False
        for peer in list(self.connected):
            self._disconnect(peer)
        for topic in list(self._topics.values()):
            await topic.state.close()
        self._topics.clear()
        if self.net.hosts.get(self._peer_id) is self:
            del self.net.hosts[self._peer_id]

    # -- connections ----------------------------------------------------------------------------

    async def connect(self, multiaddr_text: str) -> str:
        peer = multiaddr_text.rsplit("/", 1)[-1]
        if not multiaddr_text.startswith(SIM_PREFIX) or not peer:
            raise P2PError(f"{multiaddr_text!r} is not an address on the simulated network")
        if peer == self._peer_id:
            raise P2PError(f"{multiaddr_text} is this host itself")
        if peer in self.connected:
            return peer
        other = self.net.hosts.get(peer)
        if other is None or not other.running or not await self.net.travel(self._peer_id, peer):
            raise P2PError(f"cannot connect to {multiaddr_text}: no answer")
        if not await self.net.travel(peer, self._peer_id) or not other.running:
            raise P2PError(f"cannot connect to {multiaddr_text}: no answer")
        self.connected.add(peer)
        other.connected.add(self._peer_id)
        for topic in self._topics:
            self._graft(topic)
        for topic in other._topics:
            other._graft(topic)
        return peer

    def _disconnect(self, peer: str) -> None:
        self.connected.discard(peer)
        for topic in self._topics.values():
            topic.mesh.discard(peer)
        other = self.net.hosts.get(peer)
        if other is not None:
            other.connected.discard(self._peer_id)
            for topic in other._topics.values():
                topic.mesh.discard(self._peer_id)

    def _live_peers(self) -> list[str]:
        """Connected peers that are still up (a crashed one is dropped, as a keepalive would notice)."""
        for peer in [p for p in self.connected if not self.net.both_alive(self._peer_id, p)]:
            self._disconnect(peer)
        return sorted(self.connected)

    def peers(self) -> list[PeerInfo]:
        return [
            PeerInfo(
                peer,
                (self.net.address(peer),),
                2000 * self.net.network.one_way_s(self._peer_id, peer),
                self.scores.get(peer, 0.0),
            )
            for peer in self._live_peers()
        ]

    def mesh_peers(self, topic: str) -> list[str]:
        state = self._topics.get(topic)
        return sorted(state.mesh) if state is not None else []

    def gossip_state(self, *, peers: bool = False) -> dict[str, Any]:
        return {"topics": {topic: {"mesh": len(t.mesh)} for topic, t in sorted(self._topics.items())}}

    # -- gossip ---------------------------------------------------------------------------------

    def _graft(self, topic: str) -> None:
        """Fill ``topic``'s mesh up to MESH_DEGREE with connected peers in the topic (both ends add the link)."""
        mine = self._topics.get(topic)
        if mine is None:
            return
        candidates = [
            peer
            for peer in self._live_peers()
            if peer not in mine.mesh
            and self.scores.get(peer, 0.0) > GRAYLIST_SCORE
            and (other := self.net.hosts.get(peer)) is not None
            and topic in other._topics
        ]
        self.net.rng.shuffle(candidates)
        for peer in candidates[: max(0, MESH_DEGREE - len(mine.mesh))]:
            mine.mesh.add(peer)
            self.net.hosts[peer]._topics[topic].mesh.add(self._peer_id)

    async def subscribe(self, topic: str, validator: Validator, on_message: OnMessage) -> None:
        if topic in self._topics:
            raise P2PError(f"already subscribed to {topic!r}")
        self._topics[topic] = _Topic(TopicState(topic, validator, on_message))
        self._graft(topic)

    async def unsubscribe(self, topic: str) -> None:
        state = self._topics.pop(topic, None)
        if state is None:
            return
        for peer in state.mesh:
            other = self.net.hosts.get(peer)
            if other is not None and topic in other._topics:
                other._topics[topic].mesh.discard(self._peer_id)
        await state.state.close()

    async def publish(self, topic: str, data: bytes) -> None:
        if not self.running:
            raise P2PError("the host is not running")
        data = bytes(data)
        state = self._topics.get(topic)
        if state is not None and not state.state.accepts(data, self._peer_id):
            raise P2PError(f"our own validator for {topic!r} rejects this message; not published")
        self._mark_seen(data)
        if state is not None:
            self._graft(topic)
            targets = sorted(state.mesh)
        else:  # fanout: peers in the topic, though we are not
            targets = [
                p
                for p in self._live_peers()
                if (other := self.net.hosts.get(p)) is not None and topic in other._topics
            ][:MESH_DEGREE]
        for peer in targets:
            self._send(peer, topic, data, self._peer_id)

    def _send(self, peer: str, topic: str, data: bytes, origin: str) -> None:
        me = self._peer_id

        def deliver() -> None:
            self.net.hosts[peer]._receive(topic, data, origin, me)

        self.net.send(me, peer, deliver)

    def _mark_seen(self, data: bytes) -> bool:
        """True the first time ``data`` is seen here."""
        message_id = hashlib.sha256(data).digest()
        if message_id in self._seen:
            return False
        self._seen[message_id] = None
        while len(self._seen) > SEEN_MESSAGES:
            self._seen.popitem(last=False)
        return True

    def _receive(self, topic: str, data: bytes, origin: str, forwarder: str) -> None:
        state = self._topics.get(topic)
        if state is None or self.scores.get(forwarder, 0.0) <= GRAYLIST_SCORE:
            return  # not in the topic, or the forwarder is graylisted: its messages are not even read
        if not self._mark_seen(data):
            return
        verdict = state.state.verdict(data, origin)
        if verdict is Verdict.REJECT:
            self.scores[forwarder] = self.scores.get(forwarder, 0.0) - REJECT_PENALTY
            if self.scores[forwarder] <= GRAYLIST_SCORE:
                state.mesh.discard(forwarder)
            return
        if verdict is not Verdict.ACCEPT:
            return  # IGNORE: not forwarded, no penalty
        state.state.deliver(data, origin)
        for peer in sorted(state.mesh - {forwarder, origin}):
            self._send(peer, topic, data, origin)

    # -- discovery ------------------------------------------------------------------------------

    async def advertise(self, namespace: str) -> None:
        providers = self.net.namespaces.setdefault(namespace, [])
        if self._peer_id not in providers:
            providers.append(self._peer_id)

    async def discover(self, namespace: str, limit: int = 20) -> list[str]:
        found = []
        providers = [p for p in self.net.namespaces.get(namespace, []) if p != self._peer_id]
        for peer in self.net.rng.sample(providers, min(limit, len(providers))):
            try:
                found.append(await self.connect(self.net.address(peer)))
            except P2PError:
                continue
        return found

    # -- request/response -----------------------------------------------------------------------

    def set_request_handler(
        self, protocol_id: str, handler: Handler, *, max_request_bytes: int = 64 * 1024
    ) -> None:
        if not protocol_id.startswith("/"):
            raise ValueError("a libp2p protocol id starts with '/'")
        self._handlers[protocol_id] = (handler, max_request_bytes)

    async def request(
        self,
        peer_id: str,
        protocol_id: str,
        data: bytes,
        *,
        max_response_bytes: int = 4 * 1024 * 1024,
        timeout_s: float = 10.0,
    ) -> bytes:
        try:
            return await asyncio.wait_for(
                self._exchange(peer_id, protocol_id, data, max_response_bytes), timeout_s
            )
        except TimeoutError:
            raise P2PError(f"request {protocol_id} to {peer_id} timed out after {timeout_s} s") from None

    async def _exchange(self, peer_id: str, protocol_id: str, data: bytes, max_response_bytes: int) -> bytes:
        me = self._peer_id
        if peer_id not in self.connected:
            raise P2PError(f"cannot open {protocol_id} to {peer_id}: not connected")
        if not await self.net.travel(me, peer_id):
            await asyncio.Event().wait()  # no answer ever comes: the caller's timeout ends it
        server = self.net.hosts.get(peer_id)
        if server is None or not server.running:
            await asyncio.Event().wait()
            raise AssertionError("unreachable")
        registered = server._handlers.get(protocol_id)
        if registered is None:
            raise P2PError(f"cannot open {protocol_id} to {peer_id}: protocol not supported")
        handler, max_request_bytes = registered
        if len(data) > max_request_bytes:
            raise P2PError(f"{protocol_id} to {peer_id}: request refused (too large)")
        if server._slots.locked():
            raise P2PError(f"{protocol_id} to {peer_id}: peer busy")
        async with server._slots:
            try:

                async def serve() -> bytes:
                    return await handler(bytes(data), me)

                # in the server's context: its own clock (node/clock.py)
                task = asyncio.get_running_loop().create_task(serve(), context=server.context.copy())
                answer: bytes = await asyncio.wait_for(task, HANDLER_TIMEOUT_S)
            except Exception as exc:
                raise P2PError(f"{protocol_id} to {peer_id}: the peer failed to answer ({exc})") from None
        if not await self.net.travel(peer_id, me):
            await asyncio.Event().wait()
        if len(answer) > max_response_bytes:
            raise P2PError(f"{protocol_id} to {peer_id}: response over {max_response_bytes} bytes")
        return answer
