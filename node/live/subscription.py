"""Receiving a stream: attach to a parent, verify, play out, relay to children, re-parent on failure.

One subscription per stream per node, however many local consumers (listen sessions, the
judge's PCM iterator, the recorder) tap it. Frames are forwarded to children the moment they
arrive, before verification (a relay adds no signing delay); manifests are forwarded only once
they verify, so a forged manifest dies at the first honest relay.

A parent is judged by what it delivers: one segment with forged or tampered data, no verified
segment while ``max_unverified`` frames arrived, or two segments in a row missing more than a
quarter of their frames after recovery, and the listener stops taking anything from it, avoids it
for ``BAD_AVOID_S``, names it in its next probes (``Probe.marks``) and re-parents. A parent that
answers but sends no frames for ``STARVED_S`` is left and marked too, and so is one silent for
``SILENCE_S`` (avoided for ``AVOID_S``: it may have died or hiccuped, not lied). Playout takes frames before
their segment verifies (a few ms of delay instead of a segment's); docs/PROTOCOL.md states the
bounded risk that leaves; ``verified_playout`` removes it, playing only verified frames a
segment and ``VERIFIED_SLACK_S`` later.

A relay leaving its parent for bad delivery first sends its children ``Disown`` for the frames it passed on
unverified, so the blame stays on the liar; a child believes ``MAX_DISOWNS`` of them per parent.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import itertools
import logging
import random
from collections.abc import Awaitable, Callable

from djmesh.node.clock import Alarm, monotonic, now_us, sleep, wait_set
from djmesh.node.live.hub import PAUSE_S, StreamHub
from djmesh.node.live.probe import (
    PROBE_TIMEOUT_S,
    REPARENT_PROBE_TIMEOUT_S,
    PendingLink,
    Probe,
    close_all,
    probe,
    probe_all,
)
from djmesh.node.live.recording import SetRecording
from djmesh.node.live.sets import SetSegment, decode_end
from djmesh.node.live.taps import Tap
from djmesh.node.live.transport import ControlMessage, Link, Transport, read, send
from djmesh.protocol.cbor import CborKey, CborValue
from djmesh.protocol.envelope import SignedEnvelope
from djmesh.protocol.errors import ProtocolError
from djmesh.protocol.relay import (
    MAX_DISOWNS,
    MAX_MARKS,
    MAX_NACK,
    Accept,
    Address,
    Candidate,
    Disown,
    End,
    Frames,
    Join,
    Leave,
    Manifest,
    Nack,
    PathUpdate,
    Pay,
    Ping,
    Redirect,
)
from djmesh.protocol.stream import (
    Dropped,
    JitterBuffer,
    SegmentManifest,
    StreamAnnounce,
    StreamVerifier,
    VerifiedSegment,
    decode_frame,
)

log = logging.getLogger(__name__)

SILENCE_S = 0.6  # nothing at all (frames, pongs) for this long: the parent is dead
STARVED_S = 3.0  # the parent answers but no frames come: its own upstream is gone
STALLED_S = 0.3  # no frames for this long: newcomers are turned away until they come again (15 frames)
RECOVERY_WAIT_S = 0.4  # how long a signed segment waits for lost frames fetched again
VERIFIED_SLACK_S = RECOVERY_WAIT_S + 0.2  # verified playout: beyond a segment, what its manifest may take
PING_INTERVAL_S = 0.25
WATCH_S = 0.1  # the watchdog looks at least this often (sweeping children that stopped pinging)
JOIN_ROUNDS = 6
REPARENT_FANOUT = 2  # a re-parenting orphan joins its first this-many candidates with the probe
# an orphan waits this long for the network's answer before trying its ancestors again
REPARENT_LOCATE_S = 1.0
JOIN_DEADLINE_S = 20.0  # a first join keeps trying (locating again, backing off) this long
JOIN_BACKOFF_S = (0.2, 2.0)  # first and longest pause between a first join's attempts
GIVE_UP_S = 30.0
AVOID_S = 10.0  # a parent that went silent or starved us
BAD_AVOID_S = 120.0  # a parent that sent forged or tampered data, or withheld frames or signatures
MAX_AVOIDED = 64
WITHHOLD_STRIKES = 2  # segments in a row missing over a quarter of their frames after recovery
BAD_DATA = ("forged", "tampered", "malformed")  # what no honest relay passes on
# a keepalive goes over the standby link this often (QUIC idles out at 10 s)
STANDBY_REFRESH_S = 2.0
# first and longest pause after a standby link could not be opened or closed
STANDBY_RETRY_S = (5.0, 60.0)

Locate = Callable[[bytes], Awaitable[list[Address]]]


def playout_buffer(announce: StreamAnnounce, *, verified: bool) -> JitterBuffer:
    """The jitter buffer playout reads: a few ms deep, or (``verified``) a segment and ``VERIFIED_SLACK_S``."""
    if not verified:
        return JitterBuffer(frame_us=announce.frame_us)
    hold_us = announce.segment_frames * announce.frame_us + int(VERIFIED_SLACK_S * 1e6)
    return JitterBuffer(
        frame_us=announce.frame_us,
        min_delay_us=hold_us,
        max_delay_us=hold_us + 400_000,
        # a whole segment arrives at once, while playout is still in the one before
        max_gap_frames=2 * announce.segment_frames + hold_us // announce.frame_us,
    )


class Subscription:
    def __init__(
        self,
        announce: SignedEnvelope,
        *,
        transport: Transport,
        own_address: Address,
        max_children: int,
        locate: Locate,
        recording: SetRecording | None,
        join_ticket: Callable[[], dict[CborKey, CborValue]] | None = None,
        known_end: Callable[[], SignedEnvelope | None] | None = None,
        verified_playout: bool = False,
        voucher: bytes | None = None,
    ) -> None:
        message = announce.message
        assert isinstance(message, StreamAnnounce)
        self.announce = announce
        self.info = message
        self.stream = announce.content_id
        self._transport = transport
        self._own_address = own_address
        self._locate = locate
        self._join_ticket = join_ticket  # a fresh join ticket for a priced stream
        # a priced stream is served by its DJ alone (no listener relays it): the DJ is never avoided
        self._root_only = message.price is not None
        self._voucher = voucher  # our latest voucher to the DJ (priced streams): sent ahead of every join
        # the DJ's stream_end as the node learnt it by gossip: once the parent is gone, the stream is
        # over rather than worth a new parent (what the recording lacks is fetched from peers)
        self._known_end = known_end
        self.verifier = StreamVerifier(announce.author, self.stream, segment_frames=message.segment_frames)
        self.verified_playout = verified_playout  # play a frame only once its segment verified
        self.jitter = playout_buffer(message, verified=verified_playout)
        seed = hashlib.sha256(repr(own_address).encode() + self.stream).digest()
        self._rng = random.Random(seed)  # deterministic per node and stream (simulations repeat)
        self.hub = StreamHub(
            self.stream,
            announce.wire,
            own_address=own_address,
            max_children=max_children,
            segment_frames=message.segment_frames,
            rng=random.Random(seed[::-1]),
            stalled=self.is_stalled,
        )
        # this many frames from a parent and no segment verified: it withholds or forges the signatures.
        # Counted in frames, not seconds, so a stalled event loop (a busy machine) never trips it.
        self.max_unverified = 2 * message.segment_frames + int(1.0e6 // message.frame_us)
        self._unverified_frames = 0
        self.taps: set[Tap] = set()
        self.parent: Link | None = None
        self.parent_address: Address | None = None
        self.hops = 0
        self.path: list[Address] = []
        self.ended: SignedEnvelope | None = None
        self.error: str | None = None
        self.reparents = 0
        self.nacked = 0
        self.disowned = 0  # Disown messages believed: frames a parent passed on from its own bad parent
        self._parent_disowns = 0  # ... from the current parent (a bounded number is believed)
        self._disowned_upto = 0  # frames below this a parent disowned: no blame for them not matching
        self._refill_below = 0  # frames below this, heard before the parent's last disown, refill its places
        self.strikes = 0  # segments in a row the parent withheld frames of
        self.left_bad: list[tuple[Address | None, str]] = []  # parents left for bad delivery, and why
        self._distrust: str | None = None  # why the current parent is to be left (set by the checks)
        self._marks: list[Address] = []  # bad parents to tell the next parent about
        self._discard_unverified = False  # the parent left sent bad data: drop what it sent unverified
        self._adopted_seq = 0
        self._gone: Address | None = None  # the parent lost to silence, named in probes while re-parenting
        self.recovered = 0
        self._highest_seq: int | None = None
        self._deferred: list[tuple[SegmentManifest, float]] = []
        self._pending_end: SignedEnvelope | None = None
        self.received_frames = 0
        self.received_bytes = 0
        self.first_frame_at: float | None = None
        self._first_seq: int | None = None  # the first frame heard (see _resume_from)
        self._last_frame_at = self._last_heard_at = monotonic()
        # the first disown from the current parent: its starved clock restarts there, once (see _on_disown)
        self._disown_grace_from = 0.0
        # every segment verified here, from the first (a late joiner's too); the service fills the gaps
        self._recording = recording
        self.done = asyncio.Event()  # ended, lost or closed: nothing more will be recorded
        self._playout = Alarm(self._play_due)  # set to the jitter buffer's next due frame
        self._alert = asyncio.Event()  # the watchdog should look now, not at its next deadline
        self._tasks: list[asyncio.Task[None]] = []
        self._closed = False
        self._attaching = False
        self._avoid: dict[Address, float] = {}  # parents that went silent, until when to avoid them
        # a link held open to the grandparent, probed now and then: a re-parenting saves the connect's round trip
        self._standby: Probe | None = None
        self._standby_task: asyncio.Future[None] | None = None
        self._standby_due = 0.0  # when to probe the standby again, or try to open one
        self._standby_pause = STANDBY_RETRY_S[0]

    # -- lifecycle -----------------------------------------------------------------------------

    async def start(self, candidates: list[Address]) -> None:
        """Attach to the best of ``candidates`` (or raise ``ConnectionError``), then run.

        In a crowd joining at once, every relay with room may be taken by the time we reach it, and
        the ones just admitted take a moment to be found: keep trying, locating the stream again
        and backing off (with jitter, so the crowd spreads out), until ``JOIN_DEADLINE_S``.
        """
        deadline = monotonic() + JOIN_DEADLINE_S
        pause = JOIN_BACKOFF_S[0]
        while not await self._attach(candidates, from_seq=None):
            if self._closed or monotonic() + pause > deadline:
                raise ConnectionError("no peer would serve this stream")
            await sleep(pause * (0.5 + self._rng.random()))
            pause = min(2 * pause, JOIN_BACKOFF_S[1])
            try:
                candidates = await self._locate(self.stream)
            except Exception as exc:
                log.info("locating stream %s failed: %s", self.stream.hex()[:8], exc)
                candidates = []
        self._tasks = [asyncio.ensure_future(self._watchdog())]
        self._schedule_playout()

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._playout.cancel()
        for task in self._tasks:
            task.cancel()
        self._drop_standby("leaving")
        if self._standby_task is not None:
            self._standby_task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        if self.parent is not None:
            send(self.parent, Leave())
            self.parent.close("leaving")
        self.hub.close()
        self.done.set()
        for tap in list(self.taps):
            tap.on_end(self.error)

    @property
    def live(self) -> bool:
        return self.ended is None and not self._closed

    def is_stalled(self, now: float | None = None) -> bool:
        """Whether a newcomer would hear nothing from us now (our hub then answers probes not live, turns joins away).

        The one rule, asked by the hub when a probe or join comes, so no writer can undo another's: we are
        leaving our parent or finding one (from the moment we distrust it, though it may still send frames,
        to the moment one accepts us), or no new frame came for ``STALLED_S`` (our parent's parent may be gone).
        """
        now = monotonic() if now is None else now
        parent = self.parent
        return (
            self._attaching
            or self._distrust is not None
            or parent is None
            or parent.closed
            or now - self._last_frame_at > STALLED_S
        )

    def pay(self, voucher: bytes) -> bool:
        """Send a signed voucher envelope to the DJ on the link it serves us on; False if we have none now.

        Kept either way, and sent ahead of our next join: a listener the DJ cut off while its vouchers were on
        their way is let back in once the DJ has it, without waiting on gossip."""
        self._voucher = voucher
        parent = self.parent
        if parent is None or parent.closed or self._attaching or self.hops != 1 or not self.live:
            return False
        send(parent, Pay(voucher))
        return True

    def play_verified_only(self) -> None:
        """From now on play only verified frames (what is buffered unverified is dropped; no way back)."""
        if self.verified_playout:
            return
        self.verified_playout = True
        self.jitter = playout_buffer(self.info, verified=True)
        self._schedule_playout()
        log.info("stream %s: playing verified frames only", self.stream.hex()[:8])

    # -- attaching -----------------------------------------------------------------------------

    async def _attach(
        self,
        candidates: list[Address],
        *,
        from_seq: int | None,
        reparent: bool = False,
        located: asyncio.Future[list[Address]] | None = None,
    ) -> bool:
        """Probe the candidates (following redirects) and join the best with room; True once attached.

        An orphan (``reparent``) is in a hurry: it asks each round's first ``REPARENT_FANOUT`` candidates
        to take it with the probe (the first to accept wins, the others are hung up on), and waits
        ``REPARENT_PROBE_TIMEOUT_S`` at most for a candidate to answer (its parent's death may be theirs).
        ``located``: the network's answer to where the stream is, asked meanwhile; once it is in, its nodes
        (shuffled) take turns with the candidates that claim no room, so an orphan whose ancestors are dead
        or full need not walk down the full tree a level per round from the top.
        """
        now = monotonic()
        self._avoid = {a: until for a, until in self._avoid.items() if until > now}
        tried: set[Address] = set(self._avoid)
        queue = [a for a in candidates if a != self._own_address]
        room: set[Address] = set()  # candidates some node said have room
        for _ in range(JOIN_ROUNDS):
            if located is not None and located.done():
                queue = self._with_located(queue, room, located)
                located = None
            queue = [a for a in dict.fromkeys(queue) if a not in tried]
            if not queue:
                return False
            tried.update(queue[:4])
            standby = self._take_standby(queue[:4]) if reparent else {}
            abandoned: set[Address] = set()
            probes = await probe_all(
                self._transport,
                queue,
                self.stream,
                tuple(self._marks[-MAX_MARKS:]),
                self._gone,
                join=lambda: self._join_message(from_seq),
                join_first=REPARENT_FANOUT if reparent else 0,
                timeout_s=REPARENT_PROBE_TIMEOUT_S if reparent else PROBE_TIMEOUT_S,
                standby=standby,
                abandoned=abandoned,
                pay=self._voucher,
            )
            tried -= abandoned  # cut off by the grace, not refused: a redirect may lead back to one
            queue = queue[4:]
            found: list[Candidate] = []  # where the probed and joined send us, the best one's first
            try:
                for probe in probes:
                    if not probe.live:
                        continue
                    if isinstance(probe.answer, Accept):  # took us with the probe
                        self._adopt(probe, probe.answer)
                        close_all(probes, keep=probe.link)
                        return True
                    if isinstance(probe.answer, Redirect):
                        found += probe.answer.candidates
                        continue
                    if probe.free <= 0 and probe.redirects:  # full: where it would send us, without a join
                        found += probe.redirects
                        continue
                    outcome = await self._join(probe, from_seq)
                    if isinstance(outcome, bool):
                        close_all(probes, keep=probe.link)
                        return True
                    found += outcome
            finally:
                close_all([p for p in probes if p.link is not self.parent])
            # those that claim room first (one level down, not back up where the full ones are)
            room.update(c.address for c in found if c.free > 0)
            queue = [c.address for c in sorted(found, key=lambda c: c.free <= 0)] + queue
        return False

    # -- the standby link ----------------------------------------------------------------------

    def _tend_standby(self, now: float) -> None:
        """Keep a link open to the grandparent (a keepalive every ``STANDBY_REFRESH_S``), so that leaving the
        parent costs one round trip (the probe with its join) instead of two (the connect first).

        The keepalive is a ``Ping``, which a node ignores on a link that is not its child's: a probe would make
        a full grandparent drop children whose pings were late (``STALE_CHILD_S``), every 2 s per grandchild,
        and under 20 % loss that orphaned whole subtrees (bench/chaos.py). A dead grandparent's link closes at
        QUIC's idle timeout; until then a re-parenting probe over it waits ``REPARENT_PROBE_TIMEOUT_S`` at most,
        alongside the others, as a fresh connect to it would.

        One link per subscription. The grandparent is whom the parent names (``path``): a lying parent can
        make its children dial an address of its choice, at most once per ``STANDBY_RETRY_S`` (backing off
        to a minute) while it answers nothing. Left alone while re-parenting: it is about to be used.
        """
        if self._attaching or self._distrust is not None or not self.live:
            return
        target = self.path[1] if len(self.path) >= 2 else None
        standby = self._standby
        if standby is not None and (standby.address != target or standby.link.closed):
            self._drop_standby("not the grandparent any more")
            standby = None
        if target is None or now < self._standby_due or target in self._avoid:
            return
        if standby is None:
            if self._standby_task is None or self._standby_task.done():
                self._standby_due = now + self._standby_pause
                self._standby_pause = min(2 * self._standby_pause, STANDBY_RETRY_S[1])
                self._standby_task = asyncio.ensure_future(self._open_standby(target))
            return
        standby.pending.drain()  # nothing it says matters before it is used
        send(standby.link, Ping(max(0, now_us()), 0))
        self._standby_due = now + STANDBY_REFRESH_S

    async def _open_standby(self, target: Address) -> None:
        found = await probe(self._transport, target, self.stream, timeout_s=REPARENT_PROBE_TIMEOUT_S)
        if found is None:
            return
        if (
            self._closed
            or self._standby is not None
            or self._attaching
            or self._distrust is not None
            or self.path[1:2] != [target]
        ):
            found.link.close("standby not needed")
            return
        self._standby = found
        self._standby_pause = STANDBY_RETRY_S[0]
        self._standby_due = monotonic() + STANDBY_REFRESH_S

    def _take_standby(self, addresses: list[Address]) -> dict[Address, tuple[Link, PendingLink]]:
        """The standby link for the probes of a re-parenting round, if it goes to one of ``addresses``."""
        standby = self._standby
        if standby is None or standby.link.closed or standby.address not in addresses:
            return {}
        self._standby = None  # the round's probes own it now (closed unless it becomes the parent)
        return {standby.address: (standby.link, standby.pending)}

    def _drop_standby(self, reason: str) -> None:
        standby, self._standby = self._standby, None
        if standby is not None:
            standby.link.close(reason)

    def _with_located(
        self, queue: list[Address], room: set[Address], located: asyncio.Future[list[Address]]
    ) -> list[Address]:
        """``queue`` with the located nodes after those that claim room, taking turns with the rest."""
        try:
            found = [a for a in located.result() if a != self._own_address]
        except Exception as exc:
            log.info("locating stream %s failed: %s", self.stream.hex()[:8], exc)
            return queue
        self._rng.shuffle(found)
        roomy = [a for a in queue if a in room]
        rest = [a for a in queue if a not in room]
        mixed = [a for pair in itertools.zip_longest(found, rest) for a in pair if a is not None]
        return roomy + mixed

    async def _join(self, probe: Probe, from_seq: int | None) -> bool | list[Candidate]:
        """True once accepted, else where the candidate redirected us."""
        if self._voucher is not None:
            send(probe.link, Pay(self._voucher))
        send(probe.link, self._join_message(from_seq))
        while True:
            reply = await probe.pending.next(5.0)
            if reply is None:
                return []
            if isinstance(reply, Redirect):
                log.info(
                    "stream %s: %s redirected us: %s", self.stream.hex()[:8], probe.address, reply.reason
                )
                return list(reply.candidates)
            if isinstance(reply, Accept):
                self._adopt(probe, reply)
                return True

    def _join_message(self, from_seq: int | None) -> Join:
        return Join(
            self.stream,
            listen=self._own_address,
            from_seq=from_seq,
            ticket=self._join_ticket() if self._join_ticket is not None else None,
        )

    def _adopt(self, probe: Probe, accept: Accept) -> None:
        old = self.parent
        self.parent, self.parent_address = probe.link, probe.address
        self._set_path(accept.hops, list(accept.path))
        if (
            self._discard_unverified
        ):  # we left a parent for bad data: what it sent and is not yet verified goes too
            self.verifier.discard_pending()
            self._discard_unverified = False
        self._distrust = None
        self.strikes = 0
        self._parent_disowns = 0
        self._disown_grace_from = 0.0
        self._marks.clear()  # told the new parent
        self._adopted_seq = self._heard_upto
        if old is not None and old is not probe.link:
            self.reparents += 1
            self.jitter.reset()
            old.handler = None
            old.close("re-parented")
        self._last_frame_at = self._last_heard_at = monotonic()
        self._unverified_frames = 0
        probe.link.handler = self
        datagrams = probe.pending.take_datagrams()  # forwarded since it accepted us
        for message in probe.pending.drain():
            self._on_message(probe.link, message)
        for data in datagrams:
            self.on_datagram(probe.link, data)
        log.info("stream %s: parent %s, %d hop(s)", self.stream.hex()[:8], probe.address, self.hops)

    def _set_path(self, hops: int, path: list[Address]) -> None:
        self.hops, self.path = hops, path
        self.hub.set_path(hops, path)  # our children's paths run through ours

    async def _reparent(self, *, avoid_s: float, bad: bool = False, mark: bool = False) -> None:
        """The parent went silent, closed or failed us: try ancestors, then ask the network again.

        A parent left for bad delivery (``bad``) or silence (``mark``) is marked in our probes: its
        ancestors, probed first, list it last for newcomers. The network is asked where the stream is at
        once. After bad delivery the path it told us may be a lie too, and what the network says is tried
        if the ancestors do not take us: ancestors alone first, since probing both at once often sent it
        to a faster sibling still below the liar. After silence, what the network says joins the rounds
        as soon as it is in (the grandparent may be dead or full, the tree above full). Never waiting for
        that answer: it kept a listener on a loaded machine without audio for 12 s.
        """
        self._attaching = True  # probes hear we are not live, joins are turned away (is_stalled)
        locating: asyncio.Future[list[Address]] | None = None
        try:
            dead = self.parent_address
            if dead is not None and avoid_s > 0 and not self._root_only:
                if len(self._avoid) >= MAX_AVOIDED:
                    self._avoid.pop(next(iter(self._avoid)))
                self._avoid[dead] = monotonic() + avoid_s
            if dead is not None and (bad or mark) and dead not in self._marks:
                self._marks = [*self._marks, dead][-MAX_MARKS:]
            self._discard_unverified = bad
            candidates = self._ancestors(dead)
            locating = asyncio.ensure_future(self._locate(self.stream))
            started = monotonic()
            while self.live and monotonic() - started < GIVE_UP_S:
                if self._end_known():
                    return
                if await self._attach(
                    candidates,
                    from_seq=self._resume_from(),
                    reparent=True,
                    located=None if bad else locating,  # after bad delivery: the ancestors alone first
                ):
                    return
                if locating is None:
                    locating = asyncio.ensure_future(self._locate(self.stream))
                # A peer that is down holds the answer up for its request's whole timeout: meanwhile
                # the ancestors again (one re-parenting turned us away; it may have a parent by now).
                await asyncio.wait({locating}, timeout=REPARENT_LOCATE_S)
                if not locating.done():
                    candidates = self._ancestors(dead)
                else:
                    try:
                        candidates = locating.result()
                    except Exception as exc:
                        log.info("locating stream %s failed: %s", self.stream.hex()[:8], exc)
                        candidates = []
                    locating = None
                await sleep(0.5 if not candidates else 0.2)
            if self.live:
                self.error = "lost the stream: no peer serves it any more"
                log.warning("stream %s: %s", self.stream.hex()[:8], self.error)
                self.done.set()
                for tap in list(self.taps):
                    tap.on_end(self.error)
        finally:
            self._attaching = False
            if locating is not None:  # attached to an ancestor before the network answered
                locating.cancel()
                locating.add_done_callback(lambda task: task.cancelled() or task.exception())

    def _ancestors(self, dead: Address | None) -> list[Address]:
        """Where an orphan asks first: its path without the parent it lost, unless that is the only server."""
        if self._root_only:
            return list(self.path)  # the DJ: who else would serve a priced stream?
        return [a for a in self.path if a != dead]

    def _watch_delay(self, next_ping: float) -> float:
        """Seconds until the watchdog has something to do: the next ping, the moment the parent would count
        as silent or starved (a re-parent starts on time), a segment's wait for lost frames running out;
        at least every ``WATCH_S`` (children's keepalives are swept then)."""
        now = monotonic()
        due = min(
            next_ping,
            self._last_heard_at + SILENCE_S + 0.002,
            self._starved_from + STARVED_S + 0.002,
            now + WATCH_S,
        )
        if self._deferred:
            due = min(due, self._deferred[0][1])
        return max(0.01, due - now)

    async def _watchdog(self) -> None:
        next_ping = 0.0
        while self.live:
            delay = self._watch_delay(next_ping)
            due = monotonic() + delay
            await wait_set(self._alert, delay)
            self._alert.clear()
            now = monotonic()
            if now - due > PAUSE_S:
                self._pardon_pause(now - due)
            self.hub.sweep(now)
            self._apply_ready()
            self._tend_standby(now)
            parent = self.parent
            if parent is not None and not parent.closed and now >= next_ping:
                send(parent, Ping(max(0, now_us()), self.hub.free))
                next_ping = now + PING_INTERVAL_S
            dead = parent is None or parent.closed or now - self._last_heard_at > SILENCE_S
            starved = now - self._starved_from > STARVED_S
            if self._distrust is None and self._unverified_frames > self.max_unverified:
                self._distrust_parent(f"no segment verified in {self._unverified_frames} frames")
            if (
                (dead or starved or self._distrust)
                and not self._attaching
                and self.live
                and self.error is None
            ):
                if self._end_known():
                    continue
                state = self._distrust or ("lost" if dead else "starved")
                log.info(
                    "stream %s: parent %s %s, re-parenting", self.stream.hex()[:8], self.parent_address, state
                )
                if self._distrust is not None:  # caught lying, whether or not it went quiet since
                    self.left_bad.append((self.parent_address, self._distrust))
                    del self.left_bad[:-16]
                    await self._reparent(avoid_s=BAD_AVOID_S, bad=True)
                elif dead:
                    # Marked too: a relay silent to its children while it answers its own parent (which so
                    # keeps sending it newcomers) must not keep costing each newcomer a re-parent. A mark of
                    # one that died costs nothing (its parent drops it); of one that hiccuped, some newcomers.
                    self._gone = self.parent_address
                    silent = parent is not None and not parent.closed  # not a link closed with a goodbye
                    if silent:
                        self.left_bad.append((self.parent_address, "silent"))
                        del self.left_bad[:-16]
                    try:
                        await self._reparent(avoid_s=AVOID_S, mark=silent)
                    finally:
                        self._gone = None
                else:
                    self.left_bad.append((self.parent_address, "starved"))
                    del self.left_bad[:-16]
                    # nothing came to void: the children starve through no fault of ours
                    self._disown(self.verifier.verified_upto, self.verifier.verified_upto)
                    await self._reparent(avoid_s=AVOID_S, bad=True)

    # -- media ---------------------------------------------------------------------------------

    def on_datagram(self, link: Link, data: bytes) -> None:
        if link is not self.parent or self._distrust is not None:
            return  # nothing more from a parent caught sending bad data
        try:
            frame = decode_frame(data)
        except ProtocolError as exc:  # e.g. over MAX_FRAME_DATAGRAM: no link could pass it on
            bad = self.verifier.counts["malformed"] = self.verifier.counts.get("malformed", 0) + 1
            if bad & (bad - 1) == 0:  # the 1st, 2nd, 4th, 8th ...: a flood costs a few lines
                log.info(
                    "stream %s: dropped a bad frame datagram (%d so far): %s", self.stream.hex()[:8], bad, exc
                )
            return
        now = monotonic()
        self._last_heard_at = now
        new = self._highest_seq is None or frame.seq > self._highest_seq
        if new:
            # only new frames show the parent delivers, or count towards its lack of signatures: frames
            # filling gaps come in bursts (a new grandparent's catch-up) ahead of their manifests
            self._last_frame_at = now
            self._unverified_frames += 1
        if self.first_frame_at is None:
            self.first_frame_at = now
        if self._first_seq is None:
            self._first_seq = frame.seq
        self.received_frames += 1
        self.received_bytes += len(frame.payload)
        if self._unverified_frames > self.max_unverified:  # caught before passing on one frame too many
            self._distrust_parent(f"no segment verified in {self._unverified_frames} frames")
            return
        self.hub.forward_frame(frame.seq, data)  # untouched, before anything else
        self._nack_gap(link, frame.seq)
        dropped = self.verifier.add_frame(frame)
        if dropped is not None:
            log.info("stream %s: frame dropped: %s", self.stream.hex()[:8], dropped.detail)
        # frames below what we had heard when the parent disowned are the catch-up of its new parent, which it
        # forwards as datagrams: late by nature, they raised the playout delay to its 400 ms cap. Other late
        # frames (lost ones the parent fetched again) do count: without them, more are concealed under loss.
        measure = frame.seq >= self._refill_below
        if self.verified_playout:
            if measure:
                self.jitter.observe(frame.ts_us, now_us())
        elif self.jitter.push(frame.seq, frame.ts_us, frame.payload, now_us(), measure=measure):
            self._schedule_playout()

    def _nack_gap(self, link: Link, seq: int) -> None:
        """Datagrams are unreliable: ask the parent again for frames skipped over (the record must be whole)."""
        highest = self._highest_seq
        if highest is None or seq > highest:
            self._highest_seq = seq
        if highest is not None and highest + 1 < seq <= highest + 1 + MAX_NACK:
            send(link, Nack(tuple(range(highest + 1, seq))))
            self.nacked += seq - highest - 1

    def on_control(self, link: Link, value: ControlMessage) -> None:
        if link is not self.parent:
            return
        self._last_heard_at = monotonic()  # even a malformed message shows the parent is alive
        message = read(link, value)
        if message is not None:
            self._on_message(link, message)

    def _on_message(self, link: Link, message: object) -> None:
        if self._distrust is not None:
            return
        if isinstance(message, Manifest):
            self._on_manifest(message.data)
        elif isinstance(message, Frames):
            for item in message.data:
                self._on_recovered(item)
        elif isinstance(message, End):
            self._on_end(message.data)
        elif isinstance(message, PathUpdate) and message.path[:1] == (self.parent_address,):
            self._set_path(message.hops, list(message.path))
        elif isinstance(message, Disown):
            self._on_disown(message)

    def _on_disown(self, message: Disown) -> None:
        """The parent left its own parent for bad data and disowns the frames it passed on: drop them, no blame.

        Believed ``MAX_DISOWNS`` times per parent, for frames not yet verified and at most a segment
        beyond the newest heard here: a liar can hide some forged frames behind it, not forge for ever.
        Passed on to our children, whose frames came through us.
        """
        self._parent_disowns += 1
        if self._parent_disowns > MAX_DISOWNS:
            self._distrust_parent(f"disowned what it sent {self._parent_disowns} times")
            return
        from_seq = max(message.from_seq, self.verifier.verified_upto)
        upto = min(message.upto, self._heard_upto + self.info.segment_frames)
        self.disowned += 1
        self._unverified_frames = 0
        if self._parent_disowns == 1:
            # it is finding a new parent: give it the time a starved child would, once. The frame clock
            # itself is not touched: no audio comes (is_stalled), and a liar disowning again and again
            # must not buy ``STARVED_S`` of its child's silence each time.
            self._disown_grace_from = monotonic()
        self.strikes = 0
        self._adopted_seq = max(self._adopted_seq, upto)  # what it lacked until now is not its doing
        self._disowned_upto = max(self._disowned_upto, upto)
        self._refill_below = max(self._refill_below, self._heard_upto)
        self.verifier.discard_pending(from_seq, upto)
        self._unplay(from_seq, upto)
        log.info(
            "stream %s: parent %s disowned frames %d..%d (its parent lied)",
            self.stream.hex()[:8],
            self.parent_address,
            from_seq,
            upto,
        )
        self._disown(from_seq, upto)

    def on_closed(self, link: Link, reason: str) -> None:
        if link is self.parent:
            log.info("stream %s: parent link closed: %s", self.stream.hex()[:8], reason)

    def _on_recovered(self, data: bytes) -> None:
        try:
            frame = decode_frame(data)
        except ProtocolError:
            return
        if self._first_seq is None:
            self._first_seq = frame.seq
        if frame.seq >= self.verifier.verified_upto:
            self.recovered += 1
            self.verifier.add_frame(frame)
            self.hub.forward_frame(frame.seq, data)
            self._apply_ready()
        if (
            not self.verified_playout
            and self.jitter.delay_us
            and self.jitter.push(frame.seq, frame.ts_us, frame.payload, now_us(), measure=False)
        ):
            self._schedule_playout()

    def _on_manifest(self, data: bytes) -> None:
        """Verify the signature now; apply it once its frames are here (asking for lost ones) or soon anyway."""
        checked = self.verifier.check(data)
        if isinstance(checked, Dropped):
            self._judge_parent(checked, self.verifier.verified_upto)
            log.warning(
                "stream %s: segment dropped (%s): %s", self.stream.hex()[:8], checked.reason, checked.detail
            )
            return
        if self._forgery_exposed(checked):
            return
        self._deferred.append((checked, monotonic() + RECOVERY_WAIT_S))
        missing = self.verifier.missing(checked)
        if missing and self.parent is not None:
            send(self.parent, Nack(tuple(missing[:MAX_NACK])))
            self.nacked += len(missing)
        self._apply_ready()

    def _apply_ready(self, *, force: bool = False) -> None:
        now = monotonic()
        while self._deferred:
            manifest, deadline = self._deferred[0]
            if self.verifier.missing(manifest) and now < deadline and not force:
                return
            self._deferred.pop(0)
            self._apply(manifest)
        self._finish_end()

    def _forgery_exposed(self, manifest: SegmentManifest) -> bool:
        """The parent's frames do not match this signed segment: leave it before the segment is settled (True).

        Checked as the signature arrives, not after the wait for lost frames, and the segment is not settled
        with holes where the forgeries were: the next parent's catch-up starts at the last verified frame, so
        the genuine frames come again, and with verified playout (a segment and more behind) play in time.
        """
        if manifest.first_seq < self._disowned_upto or self._distrust is not None:
            return self._distrust is not None  # frames the parent disowned: late copies, no blame
        tampered = self.verifier.tampered(manifest)
        if not tampered:
            return False
        detail = f"{tampered} frame(s) of segment {manifest.index} do not match"
        self._judge_parent(Dropped("tampered", detail), self.verifier.verified_upto)
        if self._distrust is None:  # not now (we are re-parenting already): settled as it is
            return False
        self.verifier.counts["tampered"] = self.verifier.counts.get("tampered", 0) + tampered
        return True

    def _apply(self, manifest: SegmentManifest) -> None:
        if self._forgery_exposed(manifest):
            return
        before = {reason: self.verifier.counts.get(reason, 0) for reason in BAD_DATA}
        unsettled = min(self.verifier.verified_upto, manifest.first_seq)
        event = self.verifier.accept(manifest)
        for reason, count in before.items():
            if reason == "tampered" and manifest.first_seq < self._disowned_upto:
                continue  # frames the parent disowned (its own parent forged them), or late copies of them
            if self.verifier.counts.get(reason, 0) > count:
                self._judge_parent(Dropped(reason, f"in segment {manifest.index}"), unsettled)
        if isinstance(event, Dropped):
            log.warning(
                "stream %s: segment dropped (%s): %s", self.stream.hex()[:8], event.reason, event.detail
            )
            return
        assert isinstance(event, VerifiedSegment)
        manifest = event.manifest
        self._unverified_frames = 0
        self._judge_delivery(event)
        self.hub.forward_manifest(manifest.first_seq, manifest.end_seq, manifest.wire)
        if self.verified_playout:
            now = now_us()
            for frame in event.frames:
                if frame is not None and self.jitter.push(
                    frame.seq, frame.ts_us, frame.payload, now, measure=False
                ):
                    self._schedule_playout()
        segment = SetSegment(manifest, event.frames)
        if self._recording is not None:
            self._recording.add(segment)
        for tap in list(self.taps):
            tap.on_segment(segment)

    def _judge_parent(self, dropped: Dropped, unsettled: int) -> None:
        """Forged, tampered or malformed data: an honest relay never passes it on, so leave this parent now.

        ``unsettled``: the first frame not verified before this data (what we passed on from there is disowned).
        """
        if dropped.reason not in BAD_DATA:
            return
        self._distrust_parent(f"{dropped.reason} data ({dropped.detail})", unsettled)

    def _distrust_parent(self, why: str, unsettled: int | None = None, *, void: bool = True) -> None:
        """Leave the parent (the watchdog re-parents) and disown, to our children, what it sent unverified.

        Said before anything else goes down (a manifest that exposes the lie is forwarded after this), so
        a child below us drops those frames instead of blaming us for them. ``void=False`` (the parent
        withheld frames: what it sent is genuine) disowns an empty range: the children keep their frames
        and only learn that what they lack is not our doing.
        """
        if self._distrust is not None or self._attaching or not self.live:
            return
        self._distrust = why
        self._alert.set()
        log.warning("stream %s: parent %s: %s; leaving it", self.stream.hex()[:8], self.parent_address, why)
        from_seq = self.verifier.verified_upto if unsettled is None else unsettled
        self._disown(from_seq, None if void else from_seq)
        if void:
            # nothing it sent since the last verified frame is to be verified: the next parent's catch-up
            # (from there) brings the genuine frames and their signatures again, each waiting afresh
            self.verifier.discard_pending(self.verifier.verified_upto)
            self._deferred.clear()
            self._unplay(from_seq)

    def _unplay(self, from_seq: int, upto: int | None = None) -> None:
        """Frames from a parent that lied, still waiting to be played unverified: not played (the next parent's
        catch-up brings the genuine ones for those places). With verified playout nothing unverified is buffered."""
        if not self.verified_playout and (dropped := self.jitter.discard(from_seq, upto)):
            log.info("stream %s: %d buffered frame(s) not played", self.stream.hex()[:8], dropped)

    def _disown(self, from_seq: int, upto: int | None = None) -> None:
        """Tell our children the frames from ``from_seq`` we passed on are void (up to the newest heard)."""
        if upto is None:
            upto = self._heard_upto
        if self.hub.children:
            self.hub.disown(from_seq, max(from_seq, upto))

    def _pardon_pause(self, pause_s: float) -> None:
        """Our own loop was held (a GC pause, a busy embedding app, a loaded machine) ``pause_s`` past when the
        watchdog was due: the parent's datagrams wait unread behind it, so the pause counts against neither
        its silence nor its starving. Without this, the watchdog ran first on waking and left a parent that
        had sent all along."""
        now = monotonic()
        self._last_heard_at = min(now, self._last_heard_at + pause_s)
        self._last_frame_at = min(now, self._last_frame_at + pause_s)
        if self._disown_grace_from:
            self._disown_grace_from = min(now, self._disown_grace_from + pause_s)

    @property
    def _starved_from(self) -> float:
        """Since when the parent counts as sending no audio: its last new frame, or its first disown after it."""
        return max(self._last_frame_at, self._disown_grace_from)

    def _resume_from(self) -> int:
        """The first frame a new parent's catch-up is to bring: the first not verified here, or, before any
        segment verified, the start of the first segment heard. Not 0 then: that asked for all three segments a
        hub keeps (150 frames), ahead of what the listener could still play (see ``StreamHub._catch_up``). A lying
        first parent (frames with made-up numbers) can make it later (the record then starts later, as a late
        joiner's does) or 0 (three segments, as before)."""
        upto = self.verifier.verified_upto
        if upto == 0 and self._first_seq is not None:
            return self._first_seq - self._first_seq % self.info.segment_frames
        return upto

    @property
    def _heard_upto(self) -> int:
        """One past the newest frame heard (0 before the first)."""
        return self._highest_seq + 1 if self._highest_seq is not None else 0

    def _judge_delivery(self, segment: VerifiedSegment) -> None:
        """A segment still missing over a quarter of its frames after recovery, twice in a row: withheld."""
        manifest = segment.manifest
        if manifest.first_seq < self._adopted_seq:
            return  # began before this parent: what it lacks is not the parent's doing
        if self.hops <= 1:
            # The parent is the DJ: no other node has frames it does not send, so leaving it gains nothing,
            # and on a loaded machine (UDP buffers overflowing) it would cut a listener off its only source.
            self.strikes = 0
            return
        lost = sum(1 for frame in segment.frames if frame is None)
        if 4 * lost <= len(segment.frames):
            self.strikes = 0
            return
        self.strikes += 1
        if self.strikes >= WITHHOLD_STRIKES:
            self._distrust_parent(f"withholding frames ({lost} of {len(segment.frames)} missing)", void=False)

    def _end_known(self) -> bool:
        """End here if the stream's end is known from elsewhere (its segments still waiting are kept as they are)."""
        end = self._known_end() if self._known_end is not None else None
        if end is None or not self.live:
            return False
        log.info("stream %s: ended (heard by gossip) while the parent was gone", self.stream.hex()[:8])
        self._on_end(end.wire)
        self._apply_ready(force=True)
        return self.ended is not None

    def _on_end(self, data: bytes) -> None:
        try:
            end = decode_end(data, self.announce)
        except ProtocolError as exc:
            log.warning("stream %s: bad end message: %s", self.stream.hex()[:8], exc)
            return
        if self.ended is None and self._pending_end is None:
            self._pending_end = end
            self._apply_ready()

    def _finish_end(self) -> None:
        """The end message waits behind segments still fetching lost frames, so the record ends whole."""
        end = self._pending_end
        if end is None or self.ended is not None or self._deferred:
            return
        self.ended = end
        self.done.set()  # every segment is recorded before anyone is told the stream ended
        self.hub.end(end.wire)
        self._schedule_playout()
        for tap in list(self.taps):
            tap.on_end(None)

    def _schedule_playout(self) -> None:
        """Something was buffered (or the buffer replaced): play out at the next due frame."""
        if self._closed:
            return
        due = self.jitter.next_due_us()
        if due is not None:
            self._playout.arm((due - now_us()) / 1e6)

    def _play_due(self) -> None:
        """Hand every frame now due to the taps, then wait for the next (an alarm, not a task: see Alarm)."""
        if self._closed:
            return
        now = now_us()
        for item in self.jitter.pop(now):
            for tap in list(self.taps):
                try:
                    tap.on_playout(item, now)
                except Exception:
                    log.exception("playout consumer failed")
        self._schedule_playout()
