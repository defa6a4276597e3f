"""The djmesh node: an asyncio object an app embeds (``async with Node(...) as node``).

It owns the identity, the store and the libp2p host, and feeds the sans-IO protocol
pieces (``Inbox``, sync messages, topics) from the network. The CLI, the TUI and the
control API all drive a node through this class.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import logging
import math
import random
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Coroutine, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

from djmesh.node.clock import monotonic, sleep, wait_set
from djmesh.node.clock import now_ms as _now_ms
from djmesh.node.config import NodeConfig
from djmesh.node.errors import NodeError
from djmesh.node.events import MessageDropped, MessageStored, NodeEvent, Notification, SyncFinished
from djmesh.node.home import NodeHome
from djmesh.node.identity import Identity, load_identity
from djmesh.node.mesh_newcomers import MeshNewcomers
from djmesh.node.names import PeerNames
from djmesh.node.notices import Notice, Notices
from djmesh.node.p2p import P2PError, P2PHost, PeerInfo, Verdict
from djmesh.node.p2p.port import Host, HostFactory
from djmesh.node.profile_fetch import ProfileFetcher
from djmesh.node.records import VerifiedResults, leaderboard_json, record_json
from djmesh.node.social import SocialService
from djmesh.node.store import Store, StoreFullError
from djmesh.node.tasks import BackgroundTasks
from djmesh.node.topic_repair import FIRST_RETRY_S, RepairSchedule
from djmesh.node.unheard import Unheard
from djmesh.node.views import FeedItem, SocialView
from djmesh.protocol import public_key_from_peer_id, sign
from djmesh.protocol.bounded import BoundedSet
from djmesh.protocol.consensus import verify_bundle_envelope
from djmesh.protocol.envelope import EnvelopeCache, SignedEnvelope, decode_envelope
from djmesh.protocol.errors import ProtocolError
from djmesh.protocol.ingest import Duplicate, Ignored, Inbox, RateLimited, Rejected
from djmesh.protocol.messages import Message, Profile
from djmesh.protocol.peer_id import public_key_from_peer_id_bytes
from djmesh.protocol.profiles import MAX_PROFILE_REQUEST_BYTES, PROFILE_PROTOCOL_ID
from djmesh.protocol.ratelimit import RateLimit
from djmesh.protocol.sync import (
    MAX_SYNC_LIMIT,
    MAX_SYNC_REQUEST_BYTES,
    MAX_SYNC_RESPONSE_BYTES,
    MAX_SYNC_TOPICS,
    SYNC_PROTOCOL_ID,
    SyncBudget,
    SyncLimiter,
    SyncRequest,
    SyncResponse,
    have_prefix,
)
from djmesh.protocol.topics import author_topic, belongs_on, inbox_topic, topics_for

log = logging.getLogger(__name__)
# py-libp2p logs routine peer failures at ERROR and does not propagate, so Python's last-resort
# handler would print them on an embedding app's stderr. A library must not print; the CLI
# routes them into the node's log file instead.
logging.getLogger("libp2p").addHandler(logging.NullHandler())

# Gossip carries what is live: a message older than this is a replay or badly delayed and is
# dropped before forwarding (history sync, which has no such limit, brings the past).
GOSSIP_MAX_AGE_MS = 15 * 60 * 1000
# History sync asks again from a little before the newest message it holds, because
# clocks differ and gossip may have delivered newer messages before older ones.
SYNC_OVERLAP_MS = 10 * 60 * 1000
SYNC_MAX_PAGES = 20
# A sync page holds up to 500 envelopes of up to 64 KiB; verifying it in one go would stall the event
# loop (and libp2p with it). It is verified in slices of at most this long, yielding in between.
SYNC_SLICE_S = 0.005
# Reconciliation (anti-entropy): gossip reaches only the nodes meshed when a message passes, and resends
# nothing once it leaves the message cache (seconds). A node that was not meshed then (it had just
# started, its connections had dropped, a publisher had no mesh yet) would never get it while its topic
# still has peers, since only a lonely topic is looked up and synced again. So every RECONCILE_EVERY_S,
# give or take a quarter, a node asks one random mesh peer for what it lacks on the topics they share,
# over the window gossip could still carry, saying what it holds (``SyncRequest.have``).
RECONCILE_EVERY_S = 30.0
UNHEARD_CHECK_S = 1.0  # how soon an own message published into a thin mesh goes out again once it fills
RECONCILE_WINDOW_MS = GOSSIP_MAX_AGE_MS
EVENT_QUEUE_SIZE = 1024


def content_problem(envelope: SignedEnvelope, results: VerifiedResults | None = None) -> str | None:
    """Why a well-formed message must still not be stored or forwarded: a ``battle_result`` that does
    not prove what it claims (``consensus.verify_bundle_envelope``: forged, stale or non-canonical).
    ``results``: the node's checked bundles, so a bundle is checked once however often it is asked."""
    if envelope.kind != "battle_result":
        return None
    try:
        if results is not None:
            results.check(envelope)
        else:
            verify_bundle_envelope(envelope)
    except ProtocolError as exc:
        return f"InvalidResult: {exc}"
    return None


MAX_REPAIRS_PER_ROUND = 8  # topics looked up again at once; rounds are FIRST_RETRY_S apart at least


@dataclass
class NodeOptions:
    """Run-time overrides of config.toml (what the CLI flags set)."""

    listen: Sequence[str] | None = None
    bootstrap: Sequence[str] | None = None
    passphrase: bytes | None = None
    identity: Identity | None = None
    sync_peers: int = 3
    inbox_rate: RateLimit = field(default_factory=RateLimit)
    host_factory: HostFactory | None = None  # None: a libp2p host (P2PHost)


class Node:
    def __init__(
        self, home: NodeHome | str, config: NodeConfig | None = None, options: NodeOptions | None = None
    ):
        self.home = home if isinstance(home, NodeHome) else NodeHome.resolve(home)
        self.config = config or NodeConfig.load(self.home.config_file)
        self.options = options or NodeOptions()
        self.identity = self.options.identity or load_identity(
            self.home.key_file, passphrase=self.options.passphrase
        )
        self._max_skew_ms = int(self.config.max_clock_skew_s * 1000)
        self._verified = EnvelopeCache()  # shared by the inbox, history sync and store reads
        self._inbox = Inbox(
            rate_limit=self.options.inbox_rate,
            max_skew_ms=self._max_skew_ms,
            max_age_ms=GOSSIP_MAX_AGE_MS,
            verified=self._verified,
        )
        self._sync_limiter = SyncLimiter()
        self._sync_budget = SyncBudget()
        # Validated in GossipSub, waiting for delivery; bounded in case delivery never comes.
        self._accepted: OrderedDict[bytes, SignedEnvelope] = OrderedDict()
        self._refused = BoundedSet[bytes](10_000)  # content IDs refused for what they claim
        self._subscribers: set[asyncio.Queue[NodeEvent]] = set()
        self._topics: set[str] = set()
        self._unsynced: set[str] = set()  # joined topics no history sync has reached a peer for yet
        self._owed_syncing: set[str] = set()  # of those, the ones a sync from their mesh is under way for
        self._unheard = Unheard(keep_ms=GOSSIP_MAX_AGE_MS)
        self._newcomers = MeshNewcomers()
        self._repairs = RepairSchedule()
        self._repairs_changed = asyncio.Event()
        self._tasks = BackgroundTasks("node")
        self._store: Store | None = None
        self._store_full_logged_ms = -(10**12)
        self._blocked: set[bytes] = set()
        self._host: Host | None = None
        self._names: PeerNames | None = None
        self.results = VerifiedResults(verified=self._verified)
        self.notices = Notices(self.identity.public_key, self.results)
        self.profiles = ProfileFetcher(self)  # profiles of peers we show but do not follow
        self.social = SocialService(self)  # profiles, posts, follows, reactions, chat, crews
        self.dropped: dict[str, int] = {}

    # -- lifecycle -----------------------------------------------------------------------------

    async def __aenter__(self) -> Node:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()

    async def start(self) -> None:
        self.home.ensure()
        self._store = Store(
            self.home.database,
            verified=self._verified,
            max_bytes=self.config.store_max_mb * 2**20,
            keep_author=self.public_key,
        )
        self._names = PeerNames(
            self._store, me=self.peer_id, my_name=self.config.name, on_missing=self.profiles.want
        )
        # Read on every gossip message, so kept in memory (set_flag refreshes it).
        self._blocked = self._store.flagged("block")
        for stored in self._store.query(author=self.public_key, limit=1000):
            self._inbox.mark_seen(stored.envelope.content_id)
        listen = self.options.listen if self.options.listen is not None else self.config.listen
        bootstrap = self.options.bootstrap if self.options.bootstrap is not None else self.config.bootstrap
        if self.options.host_factory is not None:  # e.g. the in-memory network of djmesh.node.sim.p2p
            self._host = self.options.host_factory(self.identity.seed, list(listen), list(bootstrap))
        else:
            self._host = P2PHost(
                seed=self.identity.seed,
                listen=listen,
                bootstrap=bootstrap,
                enable_mdns=self.config.mdns,
                early_drop=self._over_rate,
            )
        await self._host.__aenter__()
        self._host.set_request_handler(
            SYNC_PROTOCOL_ID, self._serve_sync, max_request_bytes=MAX_SYNC_REQUEST_BYTES
        )
        self._host.set_request_handler(
            PROFILE_PROTOCOL_ID, self.profiles.serve, max_request_bytes=MAX_PROFILE_REQUEST_BYTES
        )
        for topic in self._wanted_topics():
            await self._join(topic)
        self._spawn(self._discover_and_sync(sorted(self._topics)))
        self._spawn(self._repair_forever())
        self._spawn(self._reconcile_forever())
        self._spawn(self.profiles.refresh_forever())
        log.info("node %s listening on %s", self.peer_id, ", ".join(self.listen_addrs))

    async def stop(self) -> None:
        await self._tasks.cancel_all()
        if self._host is not None:
            await self._host.__aexit__(None, None, None)
            self._host = None
        if self._store is not None:
            self._store.close()
            self._store = None
            self._names = None

    def _spawn(self, coroutine: Coroutine[Any, Any, Any]) -> None:
        self._tasks.spawn(coroutine)

    # -- identity and network ------------------------------------------------------------------

    @property
    def public_key(self) -> bytes:
        return self.identity.public_key

    @property
    def peer_id(self) -> str:
        return self.identity.peer_id

    @property
    def host(self) -> Host:
        if self._host is None:
            raise NodeError("the node is not running")
        return self._host

    @property
    def store(self) -> Store:
        if self._store is None:
            raise NodeError("the node is not running")
        return self._store

    @property
    def names(self) -> PeerNames:
        """Display names of peers (profile names; a short ID only to tell same-named peers apart)."""
        if self._names is None:
            raise NodeError("the node is not running")
        return self._names

    @property
    def listen_addrs(self) -> list[str]:
        return self.host.listen_addrs

    def peers(self) -> list[PeerInfo]:
        return self.host.peers()

    @property
    def topics(self) -> frozenset[str]:
        """The gossip topics this node has joined."""
        return frozenset(self._topics)

    async def connect(self, multiaddr: str) -> str:
        try:
            return await self.host.connect(multiaddr)
        except P2PError as exc:
            raise NodeError(str(exc)) from exc

    async def events(self) -> AsyncIterator[NodeEvent]:
        """Every event from now on; a slow consumer loses the oldest events, not the node."""
        queue: asyncio.Queue[NodeEvent] = asyncio.Queue(EVENT_QUEUE_SIZE)
        self._subscribers.add(queue)
        try:
            while True:
                yield await queue.get()
        finally:
            self._subscribers.discard(queue)

    def emit(self, event: NodeEvent) -> None:
        """Hand ``event`` to every ``events()`` subscriber (the node's services say what they did)."""
        for queue in self._subscribers:
            if queue.full():
                queue.get_nowait()
            queue.put_nowait(event)

    # -- topics --------------------------------------------------------------------------------

    @functools.cached_property
    def _own_topics(self) -> frozenset[str]:
        """This node's author and inbox topics: others find it there, it need not find anyone."""
        return frozenset({author_topic(self.public_key), inbox_topic(self.public_key)})

    def _wanted_topics(self) -> list[str]:
        topics = set(self._own_topics)
        topics |= self.social.wanted_topics()
        topics |= set(self.store.subscriptions())
        return sorted(topics)

    async def join_topic(self, topic: str, *, persist: bool = True, sync: bool = True) -> None:
        """Subscribe to ``topic`` (kept across restarts when ``persist``), find its peers, catch up."""
        if persist:
            self.store.subscribe(topic, _now_ms())
        await self._join(topic)
        if sync:
            self._spawn(self._discover_and_sync([topic]))

    async def leave_topic(self, topic: str, *, persist: bool = True) -> None:
        """Unsubscribe from ``topic`` (and forget it across restarts when ``persist``)."""
        if persist:
            self.store.unsubscribe(topic)
        await self._leave(topic)

    async def _join(self, topic: str) -> None:
        if topic in self._topics:
            return
        self._topics.add(topic)
        self._unsynced.add(topic)
        await self.host.subscribe(
            topic,
            validator=functools.partial(self._validate, topic),
            on_message=functools.partial(self._on_gossip, topic),
        )

    async def _leave(self, topic: str) -> None:
        if topic in self._topics:
            self._topics.discard(topic)
            self._unsynced.discard(topic)
            self._newcomers.forget(topic)
            self._repairs.forget(topic)
            await self.host.unsubscribe(topic)

    async def _repair_forever(self) -> None:
        """Find a topic's peers again while its mesh is empty (a lookup that failed, a partition healed,
        peers restarted) and sync what passed meanwhile: gossip never resends what went by while this
        node was cut off. When is ``RepairSchedule``'s: soon after a lonely lookup, rarely once meshed."""
        while True:
            deadline = self._repairs.next_deadline()
            if self._unheard.topics():
                deadline = min(math.inf if deadline is None else deadline, monotonic() + UNHEARD_CHECK_S)
            self._repairs_changed.clear()
            await wait_set(
                self._repairs_changed, None if deadline is None else max(0.0, deadline - monotonic())
            )
            now = monotonic()
            lonely: list[str] = []
            owed: dict[str, list[str]] = {}  # meshed topics never synced (the first sync found nobody)
            newcomers: dict[str, list[str]] = {}  # peer -> topics whose mesh it joined since the last look
            for topic in self._repairs.due(now):
                if topic not in self._topics:
                    self._repairs.forget(topic)
                elif mesh := self.host.mesh_peers(topic):
                    self._repairs.has_peers(topic, now)
                    if topic in self._unsynced:
                        owed[topic] = mesh
                    for peer in self._newcomers.look(topic, mesh):
                        newcomers.setdefault(peer, []).append(topic)
                else:
                    lonely.append(topic)
            for topic in sorted(self._unheard.topics()):
                for wire in self._unheard.ready(topic, len(self.host.mesh_peers(topic)), _now_ms()):
                    await self._gossip(topic, wire)
            if owed := {t: mesh for t, mesh in owed.items() if t not in self._owed_syncing}:
                self._owed_syncing.update(owed)  # in the background: a slow peer must not hold up the repairs
                self._spawn(
                    self._sync_owed(sorted(owed), sorted({p for mesh in owed.values() for p in mesh}))
                )
            due = [
                (p, t[:MAX_SYNC_TOPICS])
                for p, t in sorted(newcomers.items())
                if self._newcomers.due(p, _now_ms())
            ]
            if due:  # in the background: a slow peer must not hold up the repairs
                self._spawn(self._reconcile_each(due))
            if lonely:
                await self._discover_and_sync(lonely[:MAX_REPAIRS_PER_ROUND], sync_found_only=True)
                if len(lonely) > MAX_REPAIRS_PER_ROUND:
                    await sleep(FIRST_RETRY_S)  # the rest are still due: a pause between rounds

    async def _reconcile_forever(self) -> None:
        """See RECONCILE_EVERY_S. The pauses are drawn from a generator seeded with the peer ID, so a
        simulated run repeats."""
        rng = random.Random(self.peer_id)
        while True:
            await sleep(RECONCILE_EVERY_S * rng.uniform(0.75, 1.25))
            meshes = {topic: self.host.mesh_peers(topic) for topic in sorted(self._topics)}
            peers = sorted({peer for mesh in meshes.values() for peer in mesh})
            if not peers:
                continue
            peer = rng.choice(peers)
            shared = [topic for topic, mesh in meshes.items() if peer in mesh][:MAX_SYNC_TOPICS]
            try:
                await self.reconcile(peer, shared)
            except Exception:  # one bad round (a full disk, a store error) must not end reconciliation
                log.exception("reconciliation with %s failed", peer)

    async def _sync_owed(self, topics: list[str], first: list[str]) -> None:
        try:
            await self.sync(topics, first=first)
        finally:
            self._owed_syncing.difference_update(topics)

    async def _reconcile_each(self, peers_topics: list[tuple[str, list[str]]]) -> None:
        for peer, topics in peers_topics:
            await self.reconcile(peer, topics)

    async def reconcile(self, peer: str, topics: list[str]) -> int:
        """Fetch from ``peer`` what this node lacks of the last RECONCILE_WINDOW_MS on ``topics``; how many
        messages were new. Holding more than a request can name narrows the window to the newest held."""
        since = _now_ms() - RECONCILE_WINDOW_MS
        room = SyncRequest.have_room(topics)
        held = self.store.held_on(topics, since_ms=since, limit=room)
        if len(held) == room:
            since = held[-1][0]
        return await self._sync_from(
            peer, topics, since_ms=since, have=frozenset(have_prefix(c) for _, c in held)
        )

    async def catch_up(self, topics: Sequence[str]) -> None:
        """Find ``topics``' peers and sync what this node missed on them, now (not in the background)."""
        await self._discover_and_sync(topics)

    async def _discover_and_sync(self, topics: Sequence[str], *, sync_found_only: bool = False) -> None:
        """Advertise and look up ``topics``, then sync them (``sync_found_only``: only those whose lookup
        reached someone; a repair retry that found nobody has nobody new to sync from)."""
        found: list[str] = []
        for topic in topics:
            try:
                await self.host.advertise(topic)
            except P2PError as exc:  # others may still be found (and find us once a retry advertises)
                log.info("advertising %s failed: %s", topic, exc)
            try:
                if await self.host.discover(topic):
                    found.append(topic)
            except P2PError as exc:
                log.info("discovery for %s failed: %s", topic, exc)
            self._repairs.looked_up(topic, monotonic(), retry_soon=topic not in self._own_topics)
        self._repairs_changed.set()
        to_sync = found if sync_found_only else list(topics)
        if to_sync:
            await self.sync(to_sync)

    # -- ingest --------------------------------------------------------------------------------

    def _drop(self, peer: str | None, topic: str | None, reason: str) -> None:
        kind = reason.split(":", 1)[0]
        self.dropped[kind] = self.dropped.get(kind, 0) + 1
        log.info("dropped message from %s on %s: %s", peer, topic, reason)
        self.emit(MessageDropped(peer, topic, reason))

    def _over_rate(self, origin: bytes) -> bool:
        """Gossip published by an author already over its rate is dropped before any signature check.

        Those checks (py-libp2p's and the envelope's) were most of what a flood of validly signed messages
        cost the node; the claimed origin needs no proof here (``Inbox.over_rate``).
        """
        try:
            author = public_key_from_peer_id_bytes(origin)
        except ProtocolError:
            return False
        if not self._inbox.over_rate(author, _now_ms()):
            return False
        self.dropped["RateLimited"] = self.dropped.get("RateLimited", 0) + 1
        log.debug("dropped gossip by %s before checking it: its author is over its rate", author.hex()[:16])
        return True

    def _validate(self, topic: str, data: bytes, origin: str) -> Verdict:
        """Runs inside GossipSub before forwarding. REJECT (invalid: scores the forwarder down) only
        for what no honest peer forwards; this node's policy (rate limits, blocks, its clock) IGNOREs.

        ``origin`` is the libp2p publisher; only authors publish their own messages on gossip.
        """
        try:
            publisher = public_key_from_peer_id(origin)
        except ProtocolError:
            self._drop(origin, topic, "NotAuthorError: publisher is not an Ed25519 peer")
            return Verdict.REJECT
        event = self._inbox.receive(data, now_ms=_now_ms(), source=origin, publisher=publisher)
        if isinstance(event, Rejected):
            self._drop(origin, topic, event.reason)
            return Verdict.REJECT
        if isinstance(event, Ignored):
            self._drop(origin, topic, event.reason)
            return Verdict.IGNORE
        if isinstance(event, RateLimited):
            self._drop(origin, topic, f"RateLimited: author {origin} is over its rate")
            return Verdict.IGNORE
        # A duplicate from its own author is the same message on another of its topics.
        envelope = event.envelope
        if not belongs_on(envelope, topic):
            self._drop(origin, topic, f"WrongTopic: a {envelope.kind} does not belong on {topic}")
            return Verdict.REJECT
        if envelope.content_id in self._refused:
            return Verdict.REJECT  # refused before, and logged then
        if isinstance(event, Duplicate):
            return Verdict.ACCEPT
        if envelope.author in self._blocked:
            self._drop(origin, topic, "Blocked: author is blocked here")
            return Verdict.IGNORE
        invalid = self._invalid_content(envelope)
        if invalid is not None:
            self._drop(origin, topic, invalid)
            return Verdict.REJECT
        self._accepted[hashlib.sha256(data).digest()] = envelope
        while len(self._accepted) > 10_000:
            self._accepted.popitem(last=False)
        return Verdict.ACCEPT

    def _invalid_content(self, envelope: SignedEnvelope) -> str | None:
        """Why a well-signed message is still invalid, checked before it is stored or forwarded
        (``content_problem``); a refused content ID is remembered, so it is checked and logged once."""
        problem = content_problem(envelope, self.results)
        if problem is not None:
            self._refused.add(envelope.content_id)
        return problem

    def _on_gossip(self, topic: str, data: bytes, peer: str) -> None:
        envelope = self._accepted.pop(hashlib.sha256(data).digest(), None)
        if envelope is not None:
            self._store_new([envelope], via="gossip")

    def _store_new(self, envelopes: Sequence[SignedEnvelope], *, via: str) -> int:
        fresh = [e for e in envelopes if e.content_id not in self.store]
        if not fresh:
            return 0
        try:
            # what peers sent can be fetched again: no fsync on the event loop for it (node/store.py)
            self.store.add_many(fresh, durable=via == "local")
        except StoreFullError as exc:
            # Keep serving what is stored; refuse what is new (a local publish says so to its caller).
            if via == "local":
                raise NodeError(f"{exc}: free disk space, or lower store_max_mb in config.toml") from exc
            now = _now_ms()
            if now - self._store_full_logged_ms > 60_000:
                self._store_full_logged_ms = now
                log.warning("%s: new messages are dropped until there is space", exc)
            self.dropped["StoreFull"] = self.dropped.get("StoreFull", 0) + len(fresh)
            return 0
        for envelope in fresh:
            self.emit(MessageStored(envelope, via))
            self._after_store(envelope)
        return len(fresh)

    def _after_store(self, envelope: SignedEnvelope) -> None:
        message = envelope.message
        if isinstance(message, Profile):
            self.names.invalidate()
        elif envelope.kind == "battle_result":
            self.results.add(envelope)
        if self.social.on_stored(envelope):
            return
        notice = self.notices.on_stored(self.store, envelope)  # mention, follow, reaction, challenge, result
        if notice is not None:
            self.emit(Notification(notice.reason, envelope, notice.text(self.names, self.public_key)))

    # -- history sync --------------------------------------------------------------------------

    async def _serve_sync(self, data: bytes, peer: str) -> bytes:
        if not self._sync_limiter.allow(peer, _now_ms()):
            log.info("sync request from %s refused: over its rate", peer)
            return SyncResponse((), more=False).encode()
        try:
            request = SyncRequest.decode(data)
        except ProtocolError as exc:
            log.info("bad sync request from %s: %s", peer, exc)
            return SyncResponse((), more=False).encode()
        budget = self._sync_budget.available(_now_ms())
        have = request.have
        envelopes = self.store.by_topics(
            request.topics, since_ms=request.since_ms, limit=request.limit + 1 + len(have)
        )
        lacking = [e.wire for e in envelopes if not have or have_prefix(e.content_id) not in have]
        answer = SyncResponse.fit(lacking, request.limit, max_bytes=budget).encode()
        self._sync_budget.spend(len(answer))
        return answer

    async def sync(self, topics: Sequence[str] | None = None, *, first: Sequence[str] = ()) -> int:
        """Fetch what we missed on ``topics`` from a few connected peers (those of ``first`` that are
        connected before the others: e.g. an author, who always holds its own messages); how many were new."""
        topics = list(topics if topics is not None else sorted(self._topics))
        stored = 0
        connected = [info.peer_id for info in self.host.peers()]
        ordered = [p for p in first if p in connected] + [p for p in connected if p not in first]
        peers = ordered[: self.options.sync_peers]
        for peer in peers:
            for start in range(0, len(topics), 64):
                stored += await self._sync_from(peer, topics[start : start + 64])
        return stored

    async def _sync_from(
        self,
        peer: str,
        topics: list[str],
        *,
        since_ms: int | None = None,
        have: frozenset[bytes] = frozenset(),
    ) -> int:
        if since_ms is not None:
            since = since_ms
        else:
            known = [self.store.latest_on(topic) for topic in topics]
            since = max(0, min((k for k in known if k is not None), default=0) - SYNC_OVERLAP_MS)
            if any(k is None for k in known):
                since = 0
        received = stored = 0
        for _ in range(SYNC_MAX_PAGES):
            request = SyncRequest(tuple(topics), since_ms=since, limit=MAX_SYNC_LIMIT, have=have)
            try:
                raw = await self.host.request(
                    peer, SYNC_PROTOCOL_ID, request.encode(), max_response_bytes=MAX_SYNC_RESPONSE_BYTES
                )
                response = SyncResponse.decode(raw)
            except (P2PError, ProtocolError) as exc:
                log.info("sync from %s failed: %s", peer, exc)
                break
            self._unsynced.difference_update(topics)
            batch, newest = [], since
            slice_started = time.perf_counter()
            for wire in response.messages:
                received += 1
                if time.perf_counter() - slice_started > SYNC_SLICE_S:
                    await asyncio.sleep(0)  # let the loop (and libp2p) run between slices
                    slice_started = time.perf_counter()
                try:
                    envelope = decode_envelope(
                        wire, now_ms=_now_ms(), max_skew_ms=self._max_skew_ms, cache=self._verified
                    )
                except ProtocolError as exc:
                    self._drop(peer, None, f"{type(exc).__name__}: {exc} (sync)")
                    continue
                newest = max(newest, envelope.created_at_ms)
                if not any(belongs_on(envelope, topic) for topic in topics):
                    self._drop(peer, None, "WrongTopic: sync returned a message we did not ask for")
                elif envelope.author in self._blocked or envelope.content_id in self._refused:
                    # read now, not when the sync began: a block set while a page was on its way holds
                    continue
                elif (invalid := self._invalid_content(envelope)) is not None:
                    self._drop(peer, None, f"{invalid} (sync)")
                else:
                    batch.append(envelope)
            stored += self._store_new(batch, via="sync")
            if not response.more or newest <= since:
                break
            since = newest
        self.emit(SyncFinished(peer, received, stored))
        return stored

    # -- publishing ----------------------------------------------------------------------------

    async def publish(self, message: Message) -> SignedEnvelope:
        """Sign, store and gossip ``message`` as this node."""
        envelope = sign(message, self.identity.signing_key, created_at_ms=_now_ms())
        await self.publish_signed(envelope)
        return envelope

    async def publish_signed(self, envelope: SignedEnvelope) -> None:
        """Store and gossip an envelope this node signed itself (e.g. a verdict commit)."""
        self._inbox.mark_seen(envelope.content_id)
        self._store_new([envelope], via="local")
        for topic in topics_for(envelope):
            if topic in self._topics and Unheard.thin(mesh := len(self.host.mesh_peers(topic))):
                self._unheard.add(topic, envelope.content_id, envelope.wire, mesh_size=mesh, now_ms=_now_ms())
                self._repairs_changed.set()
            await self._gossip(topic, envelope.wire)

    async def _gossip(self, topic: str, wire: bytes) -> None:
        try:
            await self.host.publish(topic, wire)
        except P2PError as exc:
            log.warning("publishing on %s failed: %s", topic, exc)

    # -- social: thin delegates to ``self.social`` (node.social.SocialService), kept for embedders ----

    @property
    def view(self) -> SocialView:
        return self.social.view

    async def post(
        self,
        text: str,
        *,
        links: Sequence[str] = (),
        reply_to: bytes | None = None,
        mentions: Sequence[str] = (),
    ) -> SignedEnvelope:
        return await self.social.post(text, links=links, reply_to=reply_to, mentions=mentions)

    async def follow(self, peer_id: str) -> SignedEnvelope:
        return await self.social.follow(peer_id)

    async def unfollow(self, peer_id: str) -> SignedEnvelope:
        return await self.social.unfollow(peer_id)

    def feed(self, *, limit: int = 50, before_ms: int | None = None) -> list[FeedItem]:
        return self.social.feed(limit=limit, before_ms=before_ms)

    async def set_profile(self, profile: Profile) -> SignedEnvelope:
        return await self.social.set_profile(profile)

    def profile(self, peer_id: str | None = None) -> tuple[Profile, int] | None:
        return self.social.profile(peer_id)

    async def react(self, content_id: bytes, emoji: str) -> SignedEnvelope:
        return await self.social.react(content_id, emoji)

    async def join_room(self, room: str) -> None:
        await self.social.join_room(room)

    async def chat(self, room: str, text: str) -> SignedEnvelope:
        return await self.social.chat(room, text)

    def chat_history(self, room: str, *, limit: int = 100) -> list[SignedEnvelope]:
        return self.social.chat_history(room, limit=limit)

    async def create_crew(self, name: str, bio: str = "") -> bytes:
        return await self.social.create_crew(name, bio)

    async def invite(self, crew_id: bytes, peer_id: str) -> None:
        await self.social.invite(crew_id, peer_id)

    async def join_crew(self, crew_id: bytes) -> None:
        await self.social.join_crew(crew_id)

    async def crew_post(self, crew_id: bytes, text: str) -> SignedEnvelope:
        return await self.social.crew_post(crew_id, text)

    def crew_feed(self, crew_id: bytes, *, limit: int = 50) -> list[FeedItem]:
        return self.social.crew_feed(crew_id, limit=limit)

    # -- records and moderation ----------------------------------------------------------------

    def notifications(self, *, limit: int = 50) -> list[Notice]:
        """Newest first: mentions, follows, reactions, challenges and our battles' results."""
        return self.notices.listing(self.store, hidden=self.view.hidden() | {self.public_key}, limit=limit)

    def leaderboard(self, genre: str | None = None) -> dict[str, list[dict[str, Any]]]:
        """Ratings per genre from the verified results in the store, rows with display names."""
        return leaderboard_json(self.results.tables(self.store), self.names, genre=genre)

    def record(self, peer_id: str | None = None) -> dict[str, Any]:
        """A peer's record (ours by default): rating per genre, wins, losses, draws, average score, tier."""
        key = self.public_key_of(peer_id) if peer_id else self.public_key
        return record_json(self.results.tables(self.store), key)

    def set_flag(self, peer_id: str, flag: str, on: bool = True) -> None:
        if flag not in ("mute", "block"):
            raise NodeError("flag must be mute or block")
        self.store.set_flag(self.public_key_of(peer_id), flag, on)
        self._blocked = self.store.flagged("block")

    # -- helpers -------------------------------------------------------------------------------

    def public_key_of(self, peer_id: str) -> bytes:
        """The Ed25519 key a peer ID names; a ``NodeError`` that says so when it is not one."""
        try:
            return public_key_from_peer_id(peer_id)
        except ProtocolError as exc:
            raise NodeError(f"{peer_id!r} is not a djmesh peer ID ({exc})") from exc
