"""Finding peers per namespace (a topic, a room): rendezvous at bootstrap peers + DHT provider records.

GossipSub peer exchange is not sent on prune in py-libp2p, so a node that only knows the bootstrap
ends up with an empty mesh (shared/FIELD-NOTES.md). Instead a node advertises every namespace it
joins in two places, and ``discover`` asks both and dials what it finds:

- rendezvous (``/rendezvous/1.0.0``) at each bootstrap peer: one round trip, exact;
- a Kademlia provider record under sha256("djmesh/ns/" + namespace): survives bootstrap restarts
  and reaches peers whose rendezvous point differs.

Nodes run the DHT in client mode (they may sit behind NAT); bootstrap servers (``serve=True``) run
it in server mode, answer rendezvous and relay circuits for others.
"""

from __future__ import annotations

import hashlib
import logging
from collections import OrderedDict
from typing import Any

import trio
from libp2p.abc import IHost
from libp2p.discovery.rendezvous.config import RENDEZVOUS_PROTOCOL
from libp2p.discovery.rendezvous.discovery import RendezvousDiscovery
from libp2p.discovery.rendezvous.service import RendezvousService
from libp2p.kad_dht.common import PROTOCOL_ID as KAD_PROTOCOL_ID
from libp2p.kad_dht.kad_dht import DHTMode, KadDHT
from libp2p.peer.id import ID
from libp2p.peer.peerinfo import PeerInfo
from libp2p.tools.anyio_service import background_trio_service

from djmesh.node.p2p.errors import P2PError
from djmesh.node.p2p.relay import RelayService
from djmesh.protocol.bounded import BoundedSet

log = logging.getLogger(__name__)

RENDEZVOUS_TTL_S = 2 * 3600
STEP_TIMEOUT_S = 10.0
DIAL_TIMEOUT_S = 10.0
IDENTIFY_WAIT_S = 5.0
MAX_NAMESPACE_BYTES = 200
# Peers choose their IDs, so tables keyed by them are bounded: connected peers already looked at
# (forgetting one only means looking at it again) and rendezvous points used (the first ones kept;
# every rendezvous point is asked on each advertise and discover, so more would only cost time).
EXAMINED_PEERS = 4096
MAX_RENDEZVOUS_POINTS = 32
# Advertising a namespace and asking the DHT for its providers cost tens of libp2p streams each
# (py-libp2p's provide queries the closest peers, then sends ADD_PROVIDER to each), and their records
# live for hours: a lookup repeated within this long (a node retrying a topic that has no peers yet)
# only asks the rendezvous points again, one message each. One entry per namespace this node used.
FULL_LOOKUP_EVERY_S = 55.0
MAX_TRACKED_NAMESPACES = 4096


def provider_key(namespace: str) -> str:
    """The DHT key of ``namespace``: a sha2-256 multihash in hex (what ``KadDHT.provide`` accepts)."""
    return "1220" + hashlib.sha256(b"djmesh/ns/" + namespace.encode("utf-8")).hexdigest()


def _recent(done_at: OrderedDict[str, float], namespace: str) -> bool:
    at = done_at.get(namespace)
    return at is not None and trio.current_time() - at < FULL_LOOKUP_EVERY_S


def _mark(done_at: OrderedDict[str, float], namespace: str) -> None:
    done_at.pop(namespace, None)
    done_at[namespace] = trio.current_time()
    while len(done_at) > MAX_TRACKED_NAMESPACES:
        done_at.popitem(last=False)


def _check_namespace(namespace: str) -> None:
    if not namespace or len(namespace.encode("utf-8")) > MAX_NAMESPACE_BYTES:
        raise P2PError(f"a namespace is 1..{MAX_NAMESPACE_BYTES} bytes of UTF-8")


class Discovery:
    """DHT (client mode) + rendezvous clients for one host. All methods run on the trio side."""

    def __init__(self, host: IHost, nursery: trio.Nursery, *, serve: bool = False) -> None:
        self._host = host
        self._nursery = nursery
        self.serve = serve
        self.dht = KadDHT(host, DHTMode.SERVER if serve else DHTMode.CLIENT, enable_random_walk=False)
        self.rendezvous_point = RendezvousService(host) if serve else None
        self.relay = RelayService(host, serve=serve)
        self._rendezvous: dict[ID, RendezvousDiscovery] = {}
        self._examined: BoundedSet[ID] = BoundedSet(EXAMINED_PEERS)
        self._registered: set[str] = set()
        self._advertised_at: OrderedDict[str, float] = OrderedDict()
        self._dht_asked_at: OrderedDict[str, float] = OrderedDict()
        self._stop = trio.Event()

    async def start(self) -> None:
        await self._nursery.start(self._run)

    async def _run(self, task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
        async with background_trio_service(self.dht), trio.open_nursery() as nursery:
            await nursery.start(self.relay.run)
            task_status.started()
            await self._stop.wait()
            nursery.cancel_scope.cancel()

    async def close(self) -> None:
        """Withdraw our rendezvous registrations (best effort, 3 s at most), then stop the DHT."""
        with trio.move_on_after(3):
            for rendezvous in self._rendezvous.values():
                for namespace in self._registered:
                    try:
                        await rendezvous.client.unregister(namespace)
                    except Exception:
                        log.debug("rendezvous unregister failed", exc_info=True)
        for rendezvous in self._rendezvous.values():
            with trio.move_on_after(2):
                try:
                    await rendezvous.close()
                except Exception:
                    log.debug("rendezvous close failed", exc_info=True)
        self._stop.set()

    async def join(self) -> None:
        """After dialling the bootstrap list: learn which peers serve DHT/rendezvous, reserve relay slots."""
        await self._examine_new_peers()
        if not self.serve:
            await self.relay.reserve_at_relays()

    async def _examine_new_peers(self) -> None:
        """Seed the DHT and rendezvous clients with connected peers we have not looked at yet."""
        new = [pid for pid in self._host.get_connected_peers() if pid not in self._examined]
        for pid in new:
            self._examined.add(pid)
        async with trio.open_nursery() as nursery:
            for pid in new:
                nursery.start_soon(self._add_peer, pid)

    async def _add_peer(self, pid: ID) -> None:
        protocols = await self._protocols_of(pid)
        if str(KAD_PROTOCOL_ID) in protocols:
            with trio.move_on_after(STEP_TIMEOUT_S):
                try:
                    await self.dht.add_peer(pid, skip_server_mode_check=True)
                except Exception:
                    log.debug("DHT add_peer %s failed", pid, exc_info=True)
        if (
            str(RENDEZVOUS_PROTOCOL) in protocols
            and pid not in self._rendezvous
            and len(self._rendezvous) < MAX_RENDEZVOUS_POINTS
        ):
            self._rendezvous[pid] = RendezvousDiscovery(self._host, pid, enable_refresh=False)

    async def _protocols_of(self, pid: ID) -> set[str]:
        """Protocols the peer announced via identify (waits briefly for identify to finish)."""
        store = self._host.get_peerstore()
        with trio.move_on_after(IDENTIFY_WAIT_S):
            while True:
                try:
                    protocols = store.get_protocols(pid)
                except Exception:
                    protocols = []
                if protocols:
                    return {str(p) for p in protocols}
                await trio.sleep(0.05)
        return set()

    async def advertise(self, namespace: str) -> None:
        _check_namespace(namespace)
        await self._examine_new_peers()
        if _recent(self._advertised_at, namespace):
            return
        done = 0
        errors: list[str] = []
        for pid, rendezvous in list(self._rendezvous.items()):
            with trio.move_on_after(STEP_TIMEOUT_S) as scope:
                try:
                    await rendezvous.advertise(namespace, RENDEZVOUS_TTL_S)
                    self._registered.add(namespace)
                    done += 1
                except Exception as exc:
                    errors.append(f"rendezvous at {pid}: {exc}")
            if scope.cancelled_caught:
                errors.append(f"rendezvous at {pid}: timed out")
        with trio.move_on_after(STEP_TIMEOUT_S) as scope:
            try:
                if await self.dht.provide(provider_key(namespace)):
                    done += 1
            except Exception as exc:
                errors.append(f"DHT provide: {exc}")
        if scope.cancelled_caught:
            errors.append("DHT provide: timed out")
        if not done:
            raise P2PError(f"could not advertise {namespace!r}: {'; '.join(errors) or 'no bootstrap peer'}")
        _mark(self._advertised_at, namespace)

    async def discover(self, namespace: str, limit: int) -> list[str]:
        _check_namespace(namespace)
        limit = max(1, min(limit, 200))
        await self._examine_new_peers()
        me = self._host.get_id()
        found: dict[ID, PeerInfo] = {}
        for rendezvous in list(self._rendezvous.values()):
            with trio.move_on_after(STEP_TIMEOUT_S):
                try:
                    async for info in rendezvous.find_peers(namespace, limit=limit, force_refresh=True):
                        found.setdefault(info.peer_id, info)
                except Exception:
                    log.debug("rendezvous discover failed", exc_info=True)
        if len(found) < limit and not _recent(self._dht_asked_at, namespace):
            _mark(self._dht_asked_at, namespace)
            with trio.move_on_after(STEP_TIMEOUT_S):
                for info in await self._remote_providers(provider_key(namespace)):
                    found.setdefault(info.peer_id, info)
        found.pop(me, None)
        connected: list[str] = []
        async with trio.open_nursery() as nursery:
            for info in list(found.values())[:limit]:
                nursery.start_soon(self._dial, info, connected)
        return connected

    async def _remote_providers(self, key_hex: str) -> list[PeerInfo]:
        """Provider records held by the DHT servers we know.

        ``KadDHT.find_providers`` returns the local store alone as soon as it is non-empty, so a node
        that provides a namespace itself would never see the others: ask the servers directly.
        """
        key = bytes.fromhex(key_hex)
        store = self.dht.provider_store
        providers: list[PeerInfo] = []
        try:
            servers = list(await self.dht.peer_routing.find_closest_peers_network(key))
        except Exception:
            log.debug("DHT lookup failed", exc_info=True)
            return providers

        async def ask(server: ID) -> None:
            with trio.move_on_after(STEP_TIMEOUT_S):
                try:
                    found, _closer = await store._get_providers_from_peer_with_closers(server, key)
                    providers.extend(found)
                except Exception:
                    log.debug("GET_PROVIDERS at %s failed", server, exc_info=True)

        async with trio.open_nursery() as nursery:
            for server in servers:
                if server != self._host.get_id():
                    nursery.start_soon(ask, server)
        return providers

    async def _dial(self, info: PeerInfo, connected: list[str]) -> None:
        if info.peer_id in set(self._host.get_connected_peers()):
            connected.append(str(info.peer_id.to_base58()))
            return
        if not info.addrs:
            return
        with trio.move_on_after(DIAL_TIMEOUT_S):
            try:
                await self._host.connect(info)
                connected.append(str(info.peer_id.to_base58()))
            except Exception as exc:
                log.debug("could not dial discovered peer %s: %s", info.peer_id, exc)
