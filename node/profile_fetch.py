"""Profiles of peers this node shows but does not follow, fetched on demand (``protocol.profiles``).

``PeerNames`` reports a peer it has no name for (``want``); a moment later the wanted peers
are asked for in one request to a few connected peers, the wanted peers themselves first.
What comes back is checked like gossip (signature, clock, kind, author asked for, not blocked)
and stored, which renames the peer everywhere. A peer still without a name is asked for again
after ``FIRST_RETRY_S``, then twice as long each time up to ``RETRY_S``: a node that has just
started may not reach the peer yet, or the peer may set its profile a moment later, and a peer
without a profile costs a few asks and then one every ``RETRY_S``.

A name once known would stay as it was: a peer's profile updates are gossiped only to its followers. So every
``REFRESH_S`` (give or take a quarter) the node asks the connected peers it holds a profile of but does not
follow for their own newest one, ``MAX_PROFILE_AUTHORS`` per round, taking turns: a peer that renamed itself is
shown by its new name within minutes (one request of a few bytes per peer per round).
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections import OrderedDict
from typing import TYPE_CHECKING

from djmesh.node.clock import monotonic, now_ms, sleep
from djmesh.node.errors import NodeError
from djmesh.node.p2p import P2PError
from djmesh.protocol import public_key_from_peer_id
from djmesh.protocol.envelope import decode_envelope
from djmesh.protocol.errors import ProtocolError
from djmesh.protocol.messages import Profile
from djmesh.protocol.profiles import (
    MAX_PROFILE_AUTHORS,
    MAX_PROFILE_BYTES,
    MAX_PROFILE_RESPONSE_BYTES,
    PROFILE_PROTOCOL_ID,
    ProfileRequest,
    ProfileResponse,
)
from djmesh.protocol.topics import author_topic

if TYPE_CHECKING:
    from djmesh.node.node import Node

log = logging.getLogger(__name__)

BATCH_DELAY_S = 0.5  # wanted peers gathered this long go in one request
FIRST_RETRY_S = 5.0
RETRY_S = 300.0
ASK_PEERS = 3
REFRESH_S = 300.0  # how often connected peers this node does not follow are asked for their newest profile
REMEMBERED = 4096


def _now_ms() -> int:
    return now_ms()


class ProfileFetcher:
    def __init__(self, node: Node) -> None:
        self.node = node
        # peer ID -> (when asked, monotonic; how long before asking again)
        self._asked: OrderedDict[str, tuple[float, float]] = OrderedDict()
        self._pending: dict[str, None] = {}  # an ordered set
        self._flushing = False

    def want(self, peer_id: str) -> None:
        """Called for a peer shown without a name: cheap, and asks again only as the back-off allows."""
        now = monotonic()
        asked = self._asked.get(peer_id)
        if (asked is not None and now - asked[0] < asked[1]) or peer_id == self.node.peer_id:
            return
        if len(self._pending) >= REMEMBERED:  # names asked for faster than peers answer: later
            return
        self._asked[peer_id] = (now, FIRST_RETRY_S if asked is None else min(RETRY_S, 2 * asked[1]))
        self._asked.move_to_end(peer_id)
        while len(self._asked) > REMEMBERED:
            self._asked.popitem(last=False)
        self._pending[peer_id] = None
        if not self._flushing:
            self._flushing = True
            self.node._spawn(self._flush())

    async def _flush(self) -> None:
        try:
            while self._pending:
                await sleep(BATCH_DELAY_S)
                batch = list(self._pending)[:MAX_PROFILE_AUTHORS]
                for peer_id in batch:
                    self._pending.pop(peer_id, None)
                try:
                    await self.fetch(batch)
                except NodeError as exc:  # the node is stopping
                    log.info("profile fetch stopped: %s", exc)
                    return
        finally:
            self._flushing = False

    async def fetch(self, peer_ids: list[str]) -> int:
        """Ask up to ``ASK_PEERS`` connected peers (``peer_ids`` first) for those profiles; how many came."""
        wanted: dict[bytes, str] = {}
        for peer_id in peer_ids[:MAX_PROFILE_AUTHORS]:
            try:
                wanted[public_key_from_peer_id(peer_id)] = peer_id
            except ProtocolError:
                continue
        connected = [info.peer_id for info in self.node.peers()]
        order = [p for p in peer_ids if p in connected] + [p for p in connected if p not in peer_ids]
        stored = 0
        for peer in order[:ASK_PEERS]:
            missing = tuple(k for k in wanted if not self.node.store.query(author=k, kind="profile", limit=1))
            if not missing:
                break
            stored += await self._ask(peer, missing)
        return stored

    async def refresh(self, peer_ids: list[str]) -> int:
        """Ask each of ``peer_ids`` (connected; at most ``MAX_PROFILE_AUTHORS``) for its own newest profile, all
        at once; how many were new. A peer this node does not follow may have renamed itself since its profile
        was fetched: its profile updates are gossiped only to its followers."""
        asks = []
        for peer in peer_ids[:MAX_PROFILE_AUTHORS]:
            try:
                asks.append(self._ask(peer, (public_key_from_peer_id(peer),)))
            except ProtocolError:
                continue
        return sum(await asyncio.gather(*asks))

    async def refresh_forever(self) -> None:
        """See REFRESH_S. The pauses are drawn from a generator seeded with the peer ID, so a simulated run repeats."""
        rng = random.Random(self.node.peer_id)
        turn = 0
        while True:
            await sleep(REFRESH_S * rng.uniform(0.75, 1.25))
            stale = self.stale_names()
            if not stale:
                continue
            turn %= len(stale)
            batch = (stale[turn:] + stale[:turn])[:MAX_PROFILE_AUTHORS]
            turn += len(batch)
            try:
                renamed = await self.refresh(batch)
            except NodeError as exc:  # the node is stopping
                log.info("profile refresh stopped: %s", exc)
                return
            if renamed:
                log.info("profile refresh: %d of %d peers had a newer profile", renamed, len(batch))

    def stale_names(self) -> list[str]:
        """Connected peers whose profile this node holds but whose updates it does not get (not followed)."""
        node, out = self.node, []
        for info in node.peers():
            try:
                key = public_key_from_peer_id(info.peer_id)
            except ProtocolError:
                continue
            if author_topic(key) not in node.topics and node.store.query(author=key, kind="profile", limit=1):
                out.append(info.peer_id)
        return sorted(out)

    async def _ask(self, peer: str, authors: tuple[bytes, ...]) -> int:
        try:
            raw = await self.node.host.request(
                peer,
                PROFILE_PROTOCOL_ID,
                ProfileRequest(authors).encode(),
                max_response_bytes=MAX_PROFILE_RESPONSE_BYTES,
            )
            response = ProfileResponse.decode(raw)
        except (P2PError, ProtocolError) as exc:
            log.info("profile request to %s failed: %s", peer, exc)
            return 0
        batch = []
        for wire in response.profiles:
            try:
                envelope = decode_envelope(
                    wire,
                    now_ms=_now_ms(),
                    max_skew_ms=int(self.node.config.max_clock_skew_s * 1000),
                    max_bytes=MAX_PROFILE_BYTES,
                )
            except ProtocolError as exc:
                self.node._drop(peer, None, f"{type(exc).__name__}: {exc} (profile)")
                continue
            if not isinstance(envelope.message, Profile) or envelope.author not in authors:
                self.node._drop(peer, None, "WrongTopic: a profile answer held something we did not ask for")
            elif envelope.author not in self.node._blocked:
                batch.append(envelope)
        return self.node._store_new(batch, via="sync")

    async def serve(self, data: bytes, peer: str) -> bytes:
        """The newest profile this node holds of each author asked for."""
        if not self.node._sync_limiter.allow(peer, _now_ms()):
            log.info("profile request from %s refused: over its rate", peer)
            return ProfileResponse(()).encode()
        try:
            request = ProfileRequest.decode(data)
        except ProtocolError as exc:
            log.info("bad profile request from %s: %s", peer, exc)
            return ProfileResponse(()).encode()
        found = []
        for author in request.authors:
            newest = self.node.store.query(author=author, kind="profile", limit=1)
            if newest and len(newest[0].envelope.wire) <= MAX_PROFILE_BYTES:
                found.append(newest[0].envelope.wire)
        return ProfileResponse(tuple(found)).encode()
