"""P2PHost: the node's libp2p host, driven from asyncio.

Everything libp2p runs in the loop's shared trio guest run (``trio_bridge``); this class is the
asyncio face. Methods that touch the network are coroutines that hop into trio and back; the
read-only views (``peers``, ``mesh_peers``, ``listen_addrs``) read trio-side state directly, which
is safe because guest mode runs both on the same thread.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any

import multiaddr  # type: ignore[import-untyped]
import trio
from libp2p.abc import IHost, INetStream
from libp2p.custom_types import TProtocol
from libp2p.host.ping import PingService
from libp2p.peer.id import ID
from libp2p.peer.peerinfo import info_from_p2p_addr
from libp2p.peer.peerstore import PeerStoreError
from libp2p.pubsub.gossipsub import GossipSub
from libp2p.pubsub.pubsub import Pubsub
from libp2p.tools.anyio_service import background_trio_service

from djmesh.node.p2p import reqresp
from djmesh.node.p2p.addresses import check_port_free
from djmesh.node.p2p.discovery import Discovery
from djmesh.node.p2p.errors import P2PError
from djmesh.node.p2p.gossip import (
    GossipConfig,
    PolicyPubsub,
    PolicyScorer,
    build_pubsub,
    build_router,
    score_of,
)
from djmesh.node.p2p.libp2p_host import build_host, key_pair_from_seed
from djmesh.node.p2p.pacing import TokenBucket
from djmesh.node.p2p.topics import OnMessage, TopicState, Validator, origin_of
from djmesh.node.p2p.trio_bridge import (
    BridgeClosedError,
    BridgeTimeoutError,
    TrioBridge,
    acquire_bridge,
    release_bridge,
)
from djmesh.protocol.peer_id import public_key_from_peer_id

log = logging.getLogger(__name__)

CONNECT_TIMEOUT_S = 15.0
MAX_CONCURRENT_INBOUND_REQUESTS = 32
REQUEST_DEADLINE_GRACE_S = 1.0  # past a request's own timeout, the asyncio side stops waiting for trio
LATENCY_PROBE_INTERVAL_S = 15.0


@dataclass(frozen=True)
class PeerInfo:
    peer_id: str
    addrs: tuple[str, ...]
    latency_ms: float | None
    score: float | None


class P2PHost:
    """A libp2p host (Noise + Yamux, GossipSub, DHT, rendezvous, relay) for the asyncio node."""

    def __init__(
        self,
        *,
        seed: bytes,
        listen: Sequence[str] = ("/ip4/127.0.0.1/tcp/0",),
        bootstrap: Sequence[str] = (),
        gossip: GossipConfig = GossipConfig(),  # noqa: B008 -- frozen, so sharing the default is safe
        enable_mdns: bool = False,
        router_factory: Callable[[GossipConfig], GossipSub] | None = None,
        serve_discovery: bool = False,
        early_drop: Callable[[bytes], bool] | None = None,
    ) -> None:
        """``serve_discovery`` makes this host a bootstrap: DHT server, rendezvous point, relay hop.

        ``early_drop``: gossip whose claimed origin (a peer ID's bytes) it returns True for is dropped
        before any check (``PolicyPubsub``).

        ``router_factory`` swaps the GossipSub router (the benchmark compares library defaults).
        """
        self._key_pair = key_pair_from_seed(seed)
        self._peer_id = ID.from_pubkey(self._key_pair.public_key)
        try:
            self._listen = [multiaddr.Multiaddr(addr) for addr in listen]
        except Exception as exc:
            raise P2PError(f"invalid listen multiaddr in {list(listen)!r}: {exc}") from exc
        self._bootstrap = list(bootstrap)
        self._config = gossip
        self._enable_mdns = enable_mdns
        self._router_factory = router_factory or build_router
        self._serve_discovery = serve_discovery
        self._early_drop = early_drop
        self._pacer = TokenBucket(gossip.publish_rate_per_s, gossip.publish_burst)
        self._topics: dict[str, TopicState] = {}
        self._topic_scopes: dict[str, trio.CancelScope] = {}
        self._handlers: dict[str, reqresp.RequestServer] = {}
        self._inbound_slots = trio.Semaphore(MAX_CONCURRENT_INBOUND_REQUESTS)
        self._latency_ms: dict[ID, float] = {}
        self._bridge: TrioBridge | None = None
        self._host: IHost | None = None
        self._pubsub: Pubsub | None = None
        self._router: GossipSub | None = None
        self._discovery: Discovery | None = None
        self._nursery: trio.Nursery | None = None
        self._stop_event: trio.Event | None = None
        self._finished: trio.Event | None = None
        self._state = "new"

    # ---- lifecycle -------------------------------------------------------------------------------

    async def __aenter__(self) -> P2PHost:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()

    async def start(self) -> None:
        if self._state != "new":
            raise P2PError(f"a P2PHost starts once (it is {self._state})")
        self._state = "starting"
        for addr in self._listen:
            try:
                check_port_free(str(addr))
            except OSError as exc:
                self._state = "stopped"
                raise P2PError(f"cannot listen on {addr}: {exc.strerror or exc}") from exc
        self._bridge = await acquire_bridge()
        try:
            await self._bridge.run(self._bridge_start)
        except BaseException:
            self._state = "stopped"
            await self._release()
            raise
        self._state = "running"
        if self._bootstrap:
            await self._join_bootstrap()

    async def stop(self) -> None:
        """Close streams and connections, stop every trio task of this host. Idempotent."""
        if self._state in ("stopped", "new"):
            self._state = "stopped"
            return
        self._state = "stopped"
        for state in list(self._topics.values()):
            await state.close()
        self._topics.clear()
        await self._release()

    async def _release(self) -> None:
        bridge = self._bridge
        if bridge is None:
            return
        self._bridge = None
        try:
            if self._stop_event is not None and self._finished is not None:
                await bridge.run(self._trio_stop)
        except BridgeClosedError:
            pass
        finally:
            await release_bridge(bridge)

    async def _bridge_start(self) -> None:
        assert self._bridge is not None
        await self._bridge.start_task(self._trio_main)  # lives in the shared run, not in this call

    async def _trio_stop(self) -> None:
        assert self._stop_event is not None and self._finished is not None
        self._stop_event.set()
        with trio.move_on_after(10):
            await self._finished.wait()

    async def _trio_main(self, task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
        self._stop_event = trio.Event()
        self._finished = trio.Event()
        started = False
        try:
            host = build_host(self._key_pair, self._listen, enable_mdns=self._enable_mdns)
            router = self._router_factory(self._config)
            pubsub = build_pubsub(host, router, self._config, self._early_drop)
            self._host, self._router, self._pubsub = host, router, pubsub
            for protocol_id, server in self._handlers.items():
                host.set_stream_handler(TProtocol(protocol_id), server.handle_stream)
            ping = PingService(host)
            async with (
                host.run(self._listen),
                background_trio_service(pubsub),
                background_trio_service(router),
                trio.open_nursery() as nursery,
            ):
                await pubsub.wait_until_ready()
                self._nursery = nursery
                self._discovery = Discovery(host, nursery, serve=self._serve_discovery)
                await self._discovery.start()
                nursery.start_soon(self._probe_latency, ping)
                started = True
                task_status.started()
                await self._stop_event.wait()
                # Graceful first (GOAWAY, socket close), then cancel what is left.
                await self._discovery.close()
                await _disconnect_all(host)
                nursery.cancel_scope.cancel()
        except Exception as exc:
            if not started:
                raise P2PError(f"libp2p host failed to start: {exc}") from exc
            log.exception("libp2p host %s stopped with an error", self._peer_id)
        finally:
            self._nursery = None
            self._finished.set()
            if self._host is not None:
                with trio.CancelScope(shield=True), trio.move_on_after(5):
                    try:
                        await self._host.close()
                    except Exception:
                        log.debug("host close failed", exc_info=True)

    # ---- identity and addresses -----------------------------------------------------------------

    @property
    def peer_id(self) -> str:
        return str(self._peer_id.to_base58())

    @property
    def listen_addrs(self) -> list[str]:
        if self._host is None or self._state != "running":
            return []
        return [str(addr) for addr in self._host.get_addrs()]  # wildcards expanded by build_host

    # ---- connections ----------------------------------------------------------------------------

    async def connect(self, multiaddr_text: str) -> str:
        """Dial ``multiaddr_text`` (which must end in ``/p2p/<peer id>``); returns the peer id.

        A ``.../p2p/<relay>/p2p-circuit/p2p/<peer>`` address dials through that circuit relay v2
        (we must be connected to the relay).
        """
        try:
            maddr = multiaddr.Multiaddr(multiaddr_text)
            info = info_from_p2p_addr(maddr)
        except Exception as exc:
            raise P2PError(f"{multiaddr_text!r} is not a multiaddr with /p2p/<peer id>: {exc}") from exc
        if info.peer_id == self._peer_id:
            raise P2PError(f"{multiaddr_text} is this host itself")
        host = self._running_host()
        relayed = "/p2p-circuit" in multiaddr_text
        discovery = self._discovery

        async def _dial() -> None:
            with trio.fail_after(CONNECT_TIMEOUT_S):
                if relayed:
                    assert discovery is not None
                    await discovery.relay.dial(maddr)
                else:
                    await host.connect(info)

        try:
            await self._call(_dial)
        except trio.TooSlowError:
            raise P2PError(
                f"cannot connect to {multiaddr_text}: no answer in {CONNECT_TIMEOUT_S:.0f} s"
            ) from None
        except P2PError:
            raise
        except Exception as exc:
            raise P2PError(f"cannot connect to {multiaddr_text}: {_describe(exc)}") from exc
        return str(info.peer_id.to_base58())

    @property
    def relay_addrs(self) -> list[str]:
        """Circuit addresses through the relays where we hold a reservation (for peers behind NAT)."""
        if self._discovery is None or self._host is None or self._state != "running":
            return []
        store = self._host.get_peerstore()
        relays = {relay: list(store.addrs(relay)) for relay in self._discovery.relay.reservations}
        return self._discovery.relay.circuit_addrs(relays)

    async def _join_bootstrap(self) -> None:
        """Connect to the bootstrap peers (concurrently), then seed the DHT, rendezvous and relay."""
        results = await asyncio.gather(
            *(self.connect(addr) for addr in self._bootstrap), return_exceptions=True
        )
        reached = 0
        for result in results:
            if isinstance(result, P2PError):
                log.warning("bootstrap peer unreachable: %s", result)
            elif isinstance(result, BaseException):
                raise result
            else:
                reached += 1
        if reached and self._discovery is not None:
            await self._call(self._discovery.join)
        else:
            log.warning("no bootstrap peer reachable out of %d", len(self._bootstrap))

    def peers(self) -> list[PeerInfo]:
        host, router = self._host, self._router
        if host is None or self._state != "running":
            return []
        topics = list(self._pubsub.topic_ids) if self._pubsub is not None else []
        out = []
        for pid in host.get_connected_peers():
            try:
                addrs = tuple(str(a) for a in host.get_peerstore().addrs(pid))
            except PeerStoreError:  # connected, but its addresses expired from the peerstore
                addrs = ()
            score = score_of(router, pid, topics) if router is not None else None
            out.append(PeerInfo(str(pid.to_base58()), addrs, self._latency_ms.get(pid), score))
        return out

    def gossip_state(self, *, peers: bool = False) -> dict[str, Any]:
        """Pubsub's streams, topics and counters (``PolicyPubsub.state``); empty when not running."""
        pubsub = self._pubsub
        if not isinstance(pubsub, PolicyPubsub) or self._state != "running":
            return {}
        return pubsub.state(peers=peers)

    def mesh_peers(self, topic: str) -> list[str]:
        if self._router is None or self._state != "running":
            return []
        return sorted(str(pid.to_base58()) for pid in self._router.mesh.get(topic, ()))

    async def _probe_latency(self, ping: PingService) -> None:
        """Round-trip times for ``peers()``: each peer pinged soon after connecting, then every 15 s.

        Timed here because the library reports whole milliseconds (0 on a LAN).
        """
        host = self._running_host()
        last_probe: dict[ID, float] = {}
        while True:
            now = trio.current_time()
            live = set(host.get_connected_peers())
            for pid in live:
                if now - last_probe.get(pid, -math.inf) < LATENCY_PROBE_INTERVAL_S:
                    continue
                last_probe[pid] = now
                start = time.perf_counter()
                with trio.move_on_after(5):
                    try:
                        await ping.ping(pid)
                        self._latency_ms[pid] = (time.perf_counter() - start) * 1000.0
                    except Exception:
                        self._latency_ms.pop(pid, None)
            for pid in set(last_probe) - live:
                last_probe.pop(pid, None)
                self._latency_ms.pop(pid, None)
            await trio.sleep(1.0)

    # ---- gossip ---------------------------------------------------------------------------------

    async def subscribe(self, topic: str, validator: Validator, on_message: OnMessage) -> None:
        """Join ``topic``; ``validator`` gates forwarding, ``on_message`` gets accepted messages."""
        if topic in self._topics:
            raise P2PError(f"already subscribed to {topic!r}")
        pubsub = self._running_pubsub()
        state = TopicState(topic, validator, on_message, on_ignore=self._ignore)
        self._topics[topic] = state

        async def _join() -> None:
            pubsub.set_topic_validator(topic, state.libp2p_validator, False)
            subscription = await pubsub.subscribe(topic)
            scope = trio.CancelScope()
            self._topic_scopes[topic] = scope
            assert self._nursery is not None
            self._nursery.start_soon(self._read_topic, topic, subscription, state, scope)

        try:
            await self._call(_join)
        except BaseException:
            self._topics.pop(topic, None)
            await state.close()
            raise

    def _ignore(self, forwarder: ID) -> None:
        """A validator ignored (not rejected) the message ``forwarder`` sent: no penalty for it."""
        scorer = getattr(self._router, "scorer", None)
        if isinstance(scorer, PolicyScorer):
            scorer.ignore(forwarder)

    async def _read_topic(
        self, topic: str, subscription: Any, state: TopicState, scope: trio.CancelScope
    ) -> None:
        assert self._bridge is not None
        bridge, me = self._bridge, self._peer_id.to_bytes()
        with scope:
            while True:
                try:
                    msg = await subscription.get()
                except (trio.EndOfChannel, trio.ClosedResourceError):
                    return
                if msg.from_id == me:
                    continue  # our own publishes are not echoed back
                try:
                    origin = origin_of(msg)
                except Exception:
                    continue
                bridge.call_soon_asyncio(state.deliver, bytes(msg.data), origin)

    async def unsubscribe(self, topic: str) -> None:
        state = self._topics.pop(topic, None)
        if state is None:
            return
        pubsub = self._pubsub

        async def _leave() -> None:
            scope = self._topic_scopes.pop(topic, None)
            if scope is not None:
                scope.cancel()
            if pubsub is not None:
                await pubsub.unsubscribe(topic)
                pubsub.remove_topic_validator(topic)

        try:
            await self._call(_leave)
        finally:
            await state.close()

    async def publish(self, topic: str, data: bytes) -> None:
        """Publish ``data``, paced to ``publish_rate_per_s`` (waits rather than letting libp2p drop)."""
        pubsub = self._running_pubsub()
        if not isinstance(data, bytes | bytearray):
            raise TypeError("publish takes bytes")
        state = self._topics.get(topic)
        # libp2p runs our own validator on our publish and drops silently on False: check it here.
        if state is not None and not state.accepts(bytes(data), self.peer_id):
            raise P2PError(f"our own validator for {topic!r} rejects this message; not published")
        await self._pacer.take()
        try:
            await self._call(pubsub.publish, topic, bytes(data))
        except P2PError:
            raise
        except Exception as exc:
            raise P2PError(f"publish to {topic!r} failed: {_describe(exc)}") from exc

    # ---- discovery ------------------------------------------------------------------------------

    async def advertise(self, namespace: str) -> None:
        """Announce this host under ``namespace`` (rendezvous at bootstrap peers + DHT provider record)."""
        discovery = self._running_discovery()
        await self._call(discovery.advertise, namespace)

    async def discover(self, namespace: str, limit: int = 20) -> list[str]:
        """Find peers under ``namespace`` and connect to them; returns the connected peer ids."""
        discovery = self._running_discovery()
        found: list[str] = await self._call(discovery.discover, namespace, limit)
        return found

    # ---- request/response -----------------------------------------------------------------------

    def set_request_handler(
        self,
        protocol_id: str,
        handler: Callable[[bytes, str], Awaitable[bytes]],
        *,
        max_request_bytes: int = 64 * 1024,
    ) -> None:
        """Serve ``protocol_id``: requests above ``max_request_bytes`` are refused unread.

        May be called before or after start; at most 32 requests are served at once (over that,
        peers get a "busy" refusal), and a handler that takes over 30 s is abandoned.
        """
        if not protocol_id.startswith("/"):
            raise ValueError("a libp2p protocol id starts with '/'")
        if max_request_bytes < 0:
            raise ValueError("max_request_bytes must be >= 0")

        async def _call_handler(data: bytes, peer: str) -> bytes:
            if self._bridge is None:
                raise BridgeClosedError("the host stopped")
            return await self._bridge.run_asyncio(handler, data, peer)

        server = reqresp.RequestServer(
            _call_handler, reqresp.ServerLimits(max_request_bytes=max_request_bytes), self._inbound_slots
        )
        self._handlers[protocol_id] = server
        if self._host is not None and self._state in ("starting", "running"):
            self._host.set_stream_handler(TProtocol(protocol_id), server.handle_stream)

    async def request(
        self,
        peer_id: str,
        protocol_id: str,
        data: bytes,
        *,
        max_response_bytes: int = 4 * 1024 * 1024,
        timeout_s: float = 10.0,
    ) -> bytes:
        """One request to ``peer_id``; P2PError on timeout, oversize response, refusal or no route."""
        host = self._running_host()
        try:
            public_key_from_peer_id(peer_id)  # djmesh peers are Ed25519 identity peer ids
            target = ID.from_base58(peer_id)
        except Exception as exc:
            raise P2PError(f"{peer_id!r} is not a peer id") from exc

        async def _exchange() -> bytes:
            with trio.fail_after(timeout_s):
                try:
                    stream: INetStream = await host.new_stream(target, [TProtocol(protocol_id)])
                except Exception as exc:
                    raise P2PError(f"cannot open {protocol_id} to {peer_id}: {_describe(exc)}") from exc
                return await reqresp.send_request(stream, data, max_response_bytes)

        try:
            # the deadline is kept on the asyncio side too: py-libp2p's shielded clean-ups (a stream reset
            # on a stalled connection) can outlast trio's fail_after, and the caller must not wait on them
            result: bytes = await self._call(_exchange, timeout_s=timeout_s + REQUEST_DEADLINE_GRACE_S)
        except (trio.TooSlowError, BridgeTimeoutError):
            raise P2PError(f"request {protocol_id} to {peer_id} timed out after {timeout_s} s") from None
        return result

    # ---- plumbing -------------------------------------------------------------------------------

    async def _call(
        self, fn: Callable[..., Awaitable[Any]], *args: Any, timeout_s: float | None = None
    ) -> Any:
        if self._bridge is None or self._state != "running":
            raise P2PError("the host is not running")
        try:
            return await self._bridge.run(fn, *args, timeout_s=timeout_s)
        except BridgeClosedError as exc:
            raise P2PError("the host stopped") from exc

    def _running_host(self) -> IHost:
        if self._host is None or self._state not in ("running", "starting"):
            raise P2PError("the host is not running")
        return self._host

    def _running_pubsub(self) -> Pubsub:
        if self._pubsub is None or self._state != "running":
            raise P2PError("the host is not running")
        return self._pubsub

    def _running_discovery(self) -> Discovery:
        if self._discovery is None or self._state != "running":
            raise P2PError("the host is not running")
        return self._discovery


async def _disconnect_all(host: IHost) -> None:
    """Close every connection ourselves: the swarm's own shutdown leaves dialled sockets open."""
    with trio.move_on_after(5):
        for pid in list(host.get_connected_peers()):
            try:
                await host.disconnect(pid)
            except Exception:
                log.debug("disconnect %s failed", pid, exc_info=True)


def _describe(exc: BaseException) -> str:
    if isinstance(exc, BaseExceptionGroup):
        return "; ".join(_describe(e) for e in exc.exceptions)
    text = str(exc) or type(exc).__name__
    if exc.__cause__ is not None and exc.__cause__ is not exc:
        text += f" ({_describe(exc.__cause__)})"
    return text
