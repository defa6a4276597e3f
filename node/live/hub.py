"""Serving one stream to child links: forward frames and manifests untouched, admit or redirect joiners.

The DJ's broadcast and every relaying listener own one hub per stream. A hub admits at most
``max_children`` (the node's upload budget); a joiner beyond that is redirected to children
with room, so the tree grows downwards. Recent frames and manifests are kept so a late joiner
or a re-parented child gets the current segment at once (it can verify it when it is signed).

What a child claims is not trusted: its free slots are capped (``MAX_FREE_CLAIM``), each
redirect to it uses one of them until its next claim, and a child that joiners report leaving for
bad delivery (``Probe.marks``) is listed last in redirects for ``MARK_S``. Redirects list children in a
random order among equals, so neither a big claim nor the order of joins herds a crowd onto one relay.
"""

from __future__ import annotations

import logging
import random
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from djmesh.node.clock import monotonic
from djmesh.node.live.paywall import JoinGate
from djmesh.node.live.transport import ControlMessage, Link, read, send
from djmesh.protocol.relay import (
    MAX_CANDIDATES,
    MAX_FREE_CLAIM,
    MAX_HOPS,
    MAX_NACK,
    MAX_REASON_CHARS,
    Accept,
    Address,
    Candidate,
    Disown,
    End,
    Join,
    Leave,
    Manifest,
    Nack,
    PathUpdate,
    Pay,
    Ping,
    Pong,
    ProbeOk,
    Redirect,
    RelayMessage,
    frame_batches,
)
from djmesh.protocol.stream import MAX_FRAME_DATAGRAM

log = logging.getLogger(__name__)

CHILD_TIMEOUT_S = 2.0
# A full hub asked for room drops children silent this long (``_silence``) first: their own children,
# orphaned when one dies, come to us (their grandparent) within about a second, and must not find its slot
# still taken.
STALE_CHILD_S = 0.8
GONE_CHILD_S = 0.5  # a child a prober says is gone, silent to us for this long (two missed pings): freed
# A child's silence counts only while the hub hears something (a live stream's frames come every 20 ms, each child
# pings every 0.25 s). A gap this long in everything it hears is a pause of our own loop (a busy machine) or of
# our feed: the children's pings wait in the queue behind it, so it counts against none of them.
PAUSE_S = 0.3
RESEND_PER_S = 100.0  # frames a child may have resent per second (2 s of audio lost every second)
MARK_S = 30.0  # a child that joiners left for bad delivery is listed last in redirects for this long
REDIRECT_WINDOW_S = 2.0  # a redirect uses one of the child's claimed slots for this long
# a catch-up's newest frames, sent ahead of the rest: what a child playing unverified frames may still play
# (20 frames of 20 ms: the unverified playout buffer's 400 ms cap)
LIVE_EDGE_FRAMES = 20
__all__ = ["MAX_NACK", "Address", "Child", "StreamHub"]


@dataclass
class Child:
    link: Link
    listen: Address | None
    free: int | None = None  # the slots it last claimed (capped); None until its first ping
    last_seen: float = field(default_factory=monotonic)
    paused_s: float = 0.0  # the hub's ``paused_s`` at ``last_seen``
    resend_tokens: float = RESEND_PER_S
    resend_at: float = field(default_factory=monotonic)
    marked_until: float = 0.0
    redirects: deque[float] = field(default_factory=deque)  # when we last sent joiners here
    sent_frames: int = 0  # live frames forwarded to it (not the catch-up nor resends): what a paywall charges

    def room(self, now: float) -> int | None:
        """Its claim less the joiners we sent it within ``REDIRECT_WINDOW_S`` (a fresh claim does not reset it)."""
        while self.redirects and now - self.redirects[0] > REDIRECT_WINDOW_S:
            self.redirects.popleft()
        return None if self.free is None else max(0, self.free - len(self.redirects))

    def take_resends(self, wanted: int, now: float) -> int:
        """How many of ``wanted`` resent frames this child may have now (a token bucket)."""
        self.resend_tokens = min(RESEND_PER_S, self.resend_tokens + (now - self.resend_at) * RESEND_PER_S)
        self.resend_at = now
        granted = min(wanted, int(self.resend_tokens))
        self.resend_tokens -= granted
        return granted


class StreamHub:
    def __init__(
        self,
        stream: bytes,
        announce: bytes,
        *,
        own_address: Address,
        max_children: int,
        segment_frames: int,
        hops: int = 0,
        path: list[Address] | None = None,
        rng: random.Random | None = None,
        stalled: Callable[[], bool] | None = None,
    ) -> None:
        self.stream = stream
        self.announce = announce
        self.own_address = own_address
        self.max_children = max_children
        self.hops = hops
        self.path: list[Address] = list(path or [])
        self.children: dict[int, Child] = {}
        # A priced stream's root admits only whom the gate lets in, and never redirects to relays.
        self.gate: JoinGate | None = None
        self.ended: bytes | None = None  # the StreamEnd envelope once the DJ stopped
        # asked, never stored: the subscription feeding us owns the rule (Subscription.is_stalled)
        self._stalled = stalled
        self.forwarded = 0
        self.marked = 0  # children marked by joiners that left them
        self._rng = rng or random.Random()
        self._keep = 3 * segment_frames
        self._order: deque[int] = deque()
        self._frames: dict[int, bytes] = {}
        self._manifests: deque[tuple[int, int, bytes]] = deque(maxlen=4)  # (first_seq, end_seq, wire)
        self._heard_at = monotonic()
        self.paused_s = 0.0  # the gaps over PAUSE_S in all we heard, summed

    @property
    def stalled(self) -> bool:
        """No audio reaches us (we are finding a parent, or ours lost its own): nothing to give a newcomer now."""
        return self._stalled is not None and self._stalled()

    @property
    def free(self) -> int:
        return max(0, min(MAX_FREE_CLAIM, self.max_children - len(self.children)))

    # -- media ---------------------------------------------------------------------------------

    def forward_frame(self, seq: int, datagram: bytes) -> None:
        self._hear(monotonic())
        if len(datagram) > MAX_FRAME_DATAGRAM:  # no link carries it, and a catch-up could not batch it
            log.warning(
                "stream %s: frame %d of %d bytes not forwarded", self.stream.hex()[:8], seq, len(datagram)
            )
            return
        if seq in self._frames:
            return  # already forwarded (a recovered frame we had after all)
        self._frames[seq] = datagram
        self._order.append(seq)
        while len(self._order) > self._keep:
            self._frames.pop(self._order.popleft(), None)
        for child in self.children.values():
            child.link.send_datagram(datagram)
            child.sent_frames += 1
        self.forwarded += len(self.children)

    def forward_manifest(self, first_seq: int, end_seq: int, wire: bytes) -> None:
        self._manifests.append((first_seq, end_seq, wire))
        self._broadcast(Manifest(wire))

    def disown(self, from_seq: int, upto: int) -> None:
        """Frames ``from_seq`` .. ``upto`` - 1 we forwarded came from a bad parent: forget them, tell the children.

        An empty range still tells them: what they lack (a parent that withheld frames) is not our doing.

        Forgotten, the good frames for those numbers are forwarded when the next parent sends them
        (``forward_frame`` passes on each number once), and no resend serves the bad ones again.
        """
        for seq in [s for s in self._frames if from_seq <= s < upto]:
            del self._frames[seq]
        self._order = deque(seq for seq in self._order if seq in self._frames)
        self._broadcast(Disown(from_seq, upto))

    def end(self, end_envelope: bytes) -> None:
        self.ended = end_envelope
        self._broadcast(End(end_envelope))

    def set_path(self, hops: int, path: list[Address]) -> None:
        """We re-parented: our children's paths changed with ours (they re-parent through it)."""
        if hops == self.hops and path == self.path:
            return
        self.hops, self.path = hops, list(path)
        if self.children and hops + 1 <= MAX_HOPS:
            self._broadcast(PathUpdate(hops + 1, self._child_path()))

    def _child_path(self) -> tuple[Address, ...]:
        return tuple([self.own_address, *self.path][:MAX_HOPS])

    def _broadcast(self, message: RelayMessage) -> None:
        for child in list(self.children.values()):
            send(child.link, message)

    # -- membership ----------------------------------------------------------------------------

    def probe_reply(self, gone: Address | None = None) -> ProbeOk:
        """Our depth and room; a full hub first frees slots of children gone silent (``gone``: one a prober lost)."""
        now = self._hear(monotonic())
        if gone is not None:
            self._drop(lambda c: c.listen == gone and self._silence(c, now) > GONE_CHILD_S, "gone silent")
        if len(self.children) >= self.max_children:
            self._free_silent(now)
        free = self.free
        return ProbeOk(
            min(self.hops, MAX_HOPS),
            free,
            self.ended is None and not self.stalled,
            () if free else tuple(self.candidates()),
        )

    def candidates(self) -> list[Candidate]:
        """Children that relay, for joiners we cannot take: room first, in random order; marked ones last.

        A mark only moves a child to the end (anyone may send marks, so a false one must cost an honest
        relay no more than some newcomers for ``MARK_S``); a joiner probes the first few candidates only.
        """
        if self.gate is not None or self.hops + 1 > MAX_HOPS:
            return []  # a gated stream is served by its root only
        now = monotonic()
        usable = [c for c in self.children.values() if c.listen is not None]
        self._rng.shuffle(usable)
        # known room first, then the just-joined (no claim yet: they will relay), then the full, then the marked
        rooms = {id(c): 0 if c.marked_until > now else c.room(now) for c in usable}

        def rank(child: Child) -> int:
            if child.marked_until > now:
                return 3
            room = rooms[id(child)]
            return 1 if room is None else (0 if room else 2)

        usable.sort(key=rank)
        return [
            Candidate(c.listen, self.hops + 1, rooms[id(c)] or 0)
            for c in usable[:MAX_CANDIDATES]
            if c.listen is not None
        ]

    def _redirect(self, link: Link, reason: str, candidates: list[Candidate] | None = None) -> None:
        chosen = candidates or []
        now = monotonic()
        for candidate in chosen[:1]:  # the first is where the joiner most likely goes: it uses a slot
            child = next((c for c in self.children.values() if c.listen == candidate.address), None)
            if child is not None and len(child.redirects) < MAX_FREE_CLAIM:
                child.redirects.append(now)
        send(link, Redirect(reason[:MAX_REASON_CHARS], tuple(chosen)))

    def join(self, link: Link, message: Join) -> bool:
        """Admit ``link`` (accept + catch-up) or redirect it; True if admitted."""
        now = self._hear(monotonic())
        listen = message.listen
        if listen is not None and (listen == self.own_address or listen in self.path):
            self._redirect(link, "loop")
            return False
        if self.stalled:  # a newcomer would hear nothing until audio reaches us again
            self._redirect(link, "stalled")
            return False
        if self.gate is not None and (refused := self.gate.admit(self.stream, link, message)) is not None:
            self._redirect(link, refused)
            log.info("stream %s: join refused: %s", self.stream.hex()[:8], refused)
            return False
        if id(link) not in self.children and len(self.children) >= self.max_children:
            self._free_silent(now)
        if id(link) not in self.children and len(self.children) >= self.max_children:
            self._redirect(link, "full", self.candidates())
            return False
        if self.hops + 1 > MAX_HOPS:
            self._redirect(link, "too deep")
            return False
        self.children[id(link)] = Child(link, listen, last_seen=now, paused_s=self.paused_s)
        send(link, Accept(self.hops + 1, self._child_path(), self.announce))
        self._catch_up(link, message.from_seq)
        if self.ended is not None:
            send(link, End(self.ended))
        log.info(
            "stream %s: child %s joined (%d/%d)",
            self.stream.hex()[:8],
            listen,
            len(self.children),
            self.max_children,
        )
        return True

    def apply_marks(self, marks: tuple[Address, ...]) -> None:
        """A joiner left these relays for bad delivery: if they are our children, list them last for a while."""
        if not marks:
            return
        now = monotonic()
        for child in self.children.values():
            if child.listen is not None and child.listen in marks:
                if child.marked_until <= now:
                    self.marked += 1
                log.info(
                    "stream %s: child %s marked by a joiner that left it", self.stream.hex()[:8], child.listen
                )
                child.marked_until = now + MARK_S

    def _catch_up(self, link: Link, from_seq: int | None) -> None:
        """Frames since ``from_seq`` (default: the start of the unsigned segment), then their manifests.

        The newest ``LIVE_EDGE_FRAMES`` go first, in a message of their own: a re-parented child playing
        unverified frames can still play only those (the older ones fill its record, which waits for them).
        In order, behind up to three segments (48 KB at 128 kbit/s: several round trips of a fresh QUIC link's
        congestion window), they came after their playout time: 10-36 frames unplayed, 0.25-1.1 s of silence,
        on real nodes on loopback (bench/hostile.py), where the simulation, which delivers a message at once,
        heard one round trip.
        """
        if from_seq is None:
            from_seq = self._manifests[-1][1] if self._manifests else 0
        wanted = [seq for seq in sorted(self._frames) if seq >= from_seq]
        newest, older = wanted[-LIVE_EDGE_FRAMES:], wanted[:-LIVE_EDGE_FRAMES]
        for batch in [
            *frame_batches(self._frames[seq] for seq in newest),
            *frame_batches(self._frames[seq] for seq in older),
        ]:
            send(link, batch)
        for _first, end, wire in self._manifests:
            if end > from_seq:
                send(link, Manifest(wire))

    def keepalive(self, link: Link, message: Ping) -> None:
        child = self.children.get(id(link))
        if child is None:
            return
        child.last_seen, child.paused_s = monotonic(), self.paused_s
        child.free = message.free  # capped by the message's bounds
        send(link, Pong(message.t, min(self.hops, MAX_HOPS), self.free))

    def resend(self, link: Link, message: Nack) -> None:
        """A child lost some datagrams: resend what we still hold, reliably, on the control stream."""
        child = self.children.get(id(link))
        if child is None:
            return
        found = [self._frames[seq] for seq in message.seqs[:MAX_NACK] if seq in self._frames]
        found = found[: child.take_resends(len(found), monotonic())]
        for batch in frame_batches(found):
            send(link, batch)

    def remove(self, link: Link) -> None:
        if self.children.pop(id(link), None) is not None:
            log.info("stream %s: child left (%d left)", self.stream.hex()[:8], len(self.children))

    def cut(self, link: Link, reason: str) -> None:
        """Stop serving a child now (e.g. a listener whose payments stopped)."""
        if self.children.pop(id(link), None) is not None:
            log.info("stream %s: child cut off: %s", self.stream.hex()[:8], reason)
        link.close(reason)

    def sweep(self, now: float | None = None) -> None:
        """Drop children that stopped sending keepalives (a node that died without closing)."""
        now = monotonic() if now is None else now
        self._drop(lambda c: now - c.last_seen > CHILD_TIMEOUT_S, "keepalive timeout")

    def _drop(self, silent: Callable[[Child], bool], reason: str) -> None:
        for key, child in list(self.children.items()):
            if silent(child):
                self.children.pop(key, None)
                child.link.close(reason)

    def _hear(self, now: float) -> float:
        """Something reached us at ``now``: a gap before it over ``PAUSE_S`` was a pause (see ``_silence``)."""
        if now - self._heard_at > PAUSE_S:
            self.paused_s += now - self._heard_at
        self._heard_at = max(self._heard_at, now)
        return now

    def _silence(self, child: Child, now: float) -> float:
        """How long ``child`` has said nothing while we heard the rest: our pauses since its last ping left out."""
        return now - child.last_seen - (self.paused_s - child.paused_s)

    def _free_silent(self, now: float) -> None:
        """Free the slots of children silent for ``STALE_CHILD_S`` (our pauses left out): after a pause of this
        node's own loop, the first joiner it reads comes before the children's queued pings."""
        self.sweep(now)
        self._drop(lambda c: self._silence(c, now) > STALE_CHILD_S, "keepalive timeout")

    # -- LinkHandler for child links -------------------------------------------------------------

    def on_datagram(self, link: Link, data: bytes) -> None:
        """Children send nothing but control messages; stray datagrams are ignored."""

    def on_control(self, link: Link, value: ControlMessage) -> None:
        self._hear(monotonic())
        message = read(link, value)
        if isinstance(message, Ping):
            self.keepalive(link, message)
        elif isinstance(message, Nack):
            self.resend(link, message)
        elif isinstance(message, Leave):
            self.remove(link)
            link.close("left")
        elif isinstance(message, Pay) and self.gate is not None:
            self.gate.take_voucher(self.stream, link, message.voucher)

    def on_closed(self, link: Link, reason: str) -> None:
        self.remove(link)

    def close(self) -> None:
        for child in list(self.children.values()):
            child.link.close("stream closed")
        self.children.clear()
