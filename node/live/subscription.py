"""Receiving a stream: attach to a parent, verify, play out, relay to children, re-parent on failure.

One subscription per stream per node, however many local consumers (listen sessions, the
judge's PCM iterator, the recorder) tap it. Frames are forwarded to children the moment they
arrive, before verification (a relay adds no signing delay); manifests are forwarded only once
they verify, so a forged manifest dies at the first honest relay.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

from djmesh.node.clock import monotonic, now_us
from djmesh.node.live.hub import MAX_NACK, Address, StreamHub, parse_address
from djmesh.node.live.probe import Probe, close_all, probe_all
from djmesh.node.live.recording import SetRecording
from djmesh.node.live.session import parse_candidates
from djmesh.node.live.sets import SetSegment, decode_end
from djmesh.node.live.taps import Tap
from djmesh.node.live.transport import ControlMessage, Link, Transport
from djmesh.protocol.cbor import CborValue
from djmesh.protocol.envelope import SignedEnvelope
from djmesh.protocol.errors import ProtocolError
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
RECOVERY_WAIT_S = 0.4  # how long a signed segment waits for lost frames fetched again
PING_INTERVAL_S = 0.25
JOIN_ROUNDS = 6
GIVE_UP_S = 30.0
AVOID_S = 10.0
MAX_STRIKES = 3  # segments with tampered/forged data from one parent before we look for another

Locate = Callable[[bytes], Awaitable[list[Address]]]


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
        join_fields: Callable[[], ControlMessage] | None = None,
        known_end: Callable[[], SignedEnvelope | None] | None = None,
    ) -> None:
        message = announce.message
        assert isinstance(message, StreamAnnounce)
        self.announce = announce
        self.info = message
        self.stream = announce.content_id
        self._transport = transport
        self._own_address = own_address
        self._locate = locate
        self._join_fields = join_fields  # e.g. a fresh join ticket for a priced stream
        # the DJ's stream_end as the node learnt it by gossip: once the parent is gone, the stream is
        # over rather than worth a new parent (what the recording lacks is fetched from peers)
        self._known_end = known_end
        self.verifier = StreamVerifier(announce.author, self.stream, segment_frames=message.segment_frames)
        self.jitter = JitterBuffer(frame_us=message.frame_us)
        self.hub = StreamHub(
            self.stream,
            announce.wire,
            own_address=own_address,
            max_children=max_children,
            segment_frames=message.segment_frames,
        )
        self.taps: set[Tap] = set()
        self.parent: Link | None = None
        self.parent_address: Address | None = None
        self.hops = 0
        self.path: list[Address] = []
        self.ended: SignedEnvelope | None = None
        self.error: str | None = None
        self.reparents = 0
        self.nacked = 0
        self.strikes = 0
        self._switching: asyncio.Future[None] | None = None
        self.recovered = 0
        self._highest_seq: int | None = None
        self._deferred: list[tuple[SegmentManifest, float]] = []
        self._pending_end: SignedEnvelope | None = None
        self.received_frames = 0
        self.received_bytes = 0
        self.first_frame_at: float | None = None
        self._last_frame_at = self._last_heard_at = monotonic()
        # every segment verified here, from the first (a late joiner's too); the service fills the gaps
        self._recording = recording
        self.done = asyncio.Event()  # ended, lost or closed: nothing more will be recorded
        self._wake = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._closed = False
        self._attaching = False
        self._avoid: dict[Address, float] = {}  # parents that went silent, until when to avoid them

    # -- lifecycle -----------------------------------------------------------------------------

    async def start(self, candidates: list[Address]) -> None:
        """Attach to the best of ``candidates`` (or raise ``ConnectionError``), then run."""
        if not await self._attach(candidates, from_seq=None):
            raise ConnectionError("no peer would serve this stream")
        self._tasks = [
            asyncio.ensure_future(self._playout_loop()),
            asyncio.ensure_future(self._watchdog()),
        ]

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._switching is not None:
            self._switching.cancel()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        if self.parent is not None:
            self.parent.send_control({"op": "leave"})
            self.parent.close("leaving")
        self.hub.close()
        self.done.set()
        for tap in list(self.taps):
            tap.on_end(self.error)

    @property
    def live(self) -> bool:
        return self.ended is None and not self._closed

    # -- attaching -----------------------------------------------------------------------------

    async def _attach(self, candidates: list[Address], *, from_seq: int | None) -> bool:
        now = monotonic()
        tried: set[Address] = {a for a, until in self._avoid.items() if until > now}
        queue = [a for a in candidates if a != self._own_address]
        for _ in range(JOIN_ROUNDS):
            queue = [a for a in dict.fromkeys(queue) if a not in tried]
            if not queue:
                return False
            tried.update(queue[:4])
            probes = await probe_all(self._transport, queue, self.stream)
            queue = queue[4:]
            try:
                for probe in probes:
                    if not probe.live:
                        continue
                    outcome = await self._join(probe, from_seq)
                    if isinstance(outcome, bool):
                        close_all(probes, keep=probe.link)
                        return True
                    queue = outcome + queue
            finally:
                close_all([p for p in probes if p.link is not self.parent])
        return False

    async def _join(self, probe: Probe, from_seq: int | None) -> bool | list[Address]:
        """True once accepted, else where the candidate redirected us."""
        probe.link.send_control(
            {
                "op": "join",
                "stream": self.stream,
                "listen": [self._own_address[0], self._own_address[1]],
                "from_seq": from_seq,
                **(self._join_fields() if self._join_fields is not None else {}),
            }
        )
        while True:
            reply = await probe.pending.next(5.0)
            if reply is None:
                return []
            op = reply.get("op")
            if op == "redirect":
                log.info(
                    "stream %s: %s redirected us: %s",
                    self.stream.hex()[:8],
                    probe.address,
                    reply.get("reason"),
                )
                return parse_candidates(reply.get("candidates"))
            if op == "accept":
                self._adopt(probe, reply)
                return True

    def _adopt(self, probe: Probe, accept: ControlMessage) -> None:
        old = self.parent
        self.parent, self.parent_address = probe.link, probe.address
        hops = accept.get("hops")
        self.hops = hops if isinstance(hops, int) and 0 < hops < 64 else 1
        path = accept.get("path")
        self.path = [a for a in (parse_address(v) for v in (path if isinstance(path, list) else [])) if a]
        self.hub.hops, self.hub.path = self.hops, self.path
        if old is not None and old is not probe.link:
            self.reparents += 1
            self.jitter.reset()
            old.handler = None
            old.close("re-parented")
        self._last_frame_at = self._last_heard_at = monotonic()
        probe.link.handler = self
        for message in probe.pending.drain():
            self.on_control(probe.link, message)
        log.info("stream %s: parent %s, %d hop(s)", self.stream.hex()[:8], probe.address, self.hops)

    async def _reparent(self, *, avoid: bool) -> None:
        """The parent went silent or closed: try ancestors, then ask the network again."""
        self._attaching = True
        try:
            dead = self.parent_address
            if dead is not None and avoid:
                self._avoid[dead] = monotonic() + AVOID_S
            candidates = [a for a in self.path if a != dead]
            started = monotonic()
            while self.live and monotonic() - started < GIVE_UP_S:
                if self._end_known():
                    return
                if await self._attach(candidates, from_seq=self.verifier.verified_upto):
                    return
                try:
                    candidates = await self._locate(self.stream)
                except Exception as exc:
                    log.info("locating stream %s failed: %s", self.stream.hex()[:8], exc)
                    candidates = []
                await asyncio.sleep(0.5 if not candidates else 0.2)
            if self.live:
                self.error = "lost the stream: no peer serves it any more"
                log.warning("stream %s: %s", self.stream.hex()[:8], self.error)
                self.done.set()
                for tap in list(self.taps):
                    tap.on_end(self.error)
        finally:
            self._attaching = False

    async def _watchdog(self) -> None:
        next_ping = 0.0
        while self.live:
            await asyncio.sleep(0.1)
            now = monotonic()
            self.hub.sweep(now)
            self._apply_ready()
            parent = self.parent
            if parent is not None and not parent.closed and now >= next_ping:
                parent.send_control({"op": "ping", "t": now_us(), "free": self.hub.free})
                next_ping = now + PING_INTERVAL_S
            dead = parent is None or parent.closed or now - self._last_heard_at > SILENCE_S
            starved = now - self._last_frame_at > STARVED_S
            if (dead or starved) and not self._attaching and self.live and self.error is None:
                if self._end_known():
                    continue
                state = "lost" if dead else "starved"
                log.info(
                    "stream %s: parent %s %s, re-parenting", self.stream.hex()[:8], self.parent_address, state
                )
                await self._reparent(avoid=dead)

    # -- media ---------------------------------------------------------------------------------

    def on_datagram(self, link: Link, data: bytes) -> None:
        if link is not self.parent:
            return
        try:
            frame = decode_frame(data)
        except ProtocolError as exc:
            self.verifier.counts["malformed"] = self.verifier.counts.get("malformed", 0) + 1
            log.debug("bad frame datagram: %s", exc)
            return
        now = monotonic()
        self._last_frame_at = self._last_heard_at = now
        if self.first_frame_at is None:
            self.first_frame_at = now
        self.received_frames += 1
        self.received_bytes += len(frame.payload)
        self.hub.forward_frame(frame.seq, data)  # untouched, before anything else
        self._nack_gap(link, frame.seq)
        dropped = self.verifier.add_frame(frame)
        if dropped is not None:
            log.info("stream %s: frame dropped: %s", self.stream.hex()[:8], dropped.detail)
        if self.jitter.push(frame.seq, frame.ts_us, frame.payload, now_us()):
            self._wake.set()

    def _nack_gap(self, link: Link, seq: int) -> None:
        """Datagrams are unreliable: ask the parent again for frames skipped over (the record must be whole)."""
        highest = self._highest_seq
        if highest is None or seq > highest:
            self._highest_seq = seq
        if highest is not None and highest + 1 < seq <= highest + 1 + MAX_NACK:
            missing: list[CborValue] = list(range(highest + 1, seq))
            link.send_control({"op": "nack", "seqs": missing})
            self.nacked += len(missing)

    def on_control(self, link: Link, message: ControlMessage) -> None:
        if link is not self.parent:
            return
        self._last_heard_at = monotonic()
        op = message.get("op")
        data = message.get("data")
        if op == "manifest" and isinstance(data, bytes):
            self._on_manifest(data)
        elif op == "frames" and isinstance(data, list):
            for item in data[:500]:
                if isinstance(item, bytes):
                    self._on_recovered(item)
        elif op == "end" and isinstance(data, bytes):
            self._on_end(data)

    def on_closed(self, link: Link, reason: str) -> None:
        if link is self.parent:
            log.info("stream %s: parent link closed: %s", self.stream.hex()[:8], reason)

    def _on_recovered(self, data: bytes) -> None:
        try:
            frame = decode_frame(data)
        except ProtocolError:
            return
        if frame.seq >= self.verifier.verified_upto:
            self.recovered += 1
            self.verifier.add_frame(frame)
            self.hub.forward_frame(frame.seq, data)
            self._apply_ready()
        if self.jitter.delay_us and self.jitter.push(
            frame.seq, frame.ts_us, frame.payload, now_us(), measure=False
        ):
            self._wake.set()

    def _on_manifest(self, data: bytes) -> None:
        """Verify the signature now; apply it once its frames are here (asking for lost ones) or soon anyway."""
        checked = self.verifier.check(data)
        if isinstance(checked, Dropped):
            self._judge_parent(checked.count)
            log.warning(
                "stream %s: segment dropped (%s): %s", self.stream.hex()[:8], checked.reason, checked.detail
            )
            return
        self._deferred.append((checked, monotonic() + RECOVERY_WAIT_S))
        missing = self.verifier.missing(checked)
        if missing and self.parent is not None:
            self.parent.send_control({"op": "nack", "seqs": list[CborValue](missing[:MAX_NACK])})
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

    def _apply(self, manifest: SegmentManifest) -> None:
        before = self.verifier.dropped_total
        event = self.verifier.accept(manifest)
        self._judge_parent(self.verifier.dropped_total - before)
        if isinstance(event, Dropped):
            log.warning(
                "stream %s: segment dropped (%s): %s", self.stream.hex()[:8], event.reason, event.detail
            )
            return
        assert isinstance(event, VerifiedSegment)
        manifest = event.manifest
        self.hub.forward_manifest(manifest.first_seq, manifest.end_seq, manifest.wire)
        segment = SetSegment(manifest, event.frames)
        if self._recording is not None:
            self._recording.add(segment)
        for tap in list(self.taps):
            tap.on_segment(segment)

    def _judge_parent(self, bad: int) -> None:
        """A parent that keeps passing on tampered or forged data is routed around (once per strike-out)."""
        if bad <= 0 or self._attaching or self._switching is not None:
            return
        self.strikes += 1
        if self.strikes >= MAX_STRIKES and self.live:
            log.warning(
                "stream %s: parent %s keeps sending bad data; looking for another",
                self.stream.hex()[:8],
                self.parent_address,
            )
            self._switching = asyncio.ensure_future(self._switch_parent())

    async def _switch_parent(self) -> None:
        """Try once to move to an ancestor or a sibling; keep the current parent if nobody has room."""
        bad = self.parent_address
        if bad is not None:
            self._avoid[bad] = monotonic() + AVOID_S
        try:
            self._attaching = True
            moved = await self._attach(
                [a for a in self.path if a != bad], from_seq=self.verifier.verified_upto
            )
            log.info(
                "stream %s: %s", self.stream.hex()[:8], "switched parent" if moved else "no other parent"
            )
        finally:
            self._attaching = False
            self.strikes = 0
            self._switching = None

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
        self._wake.set()
        for tap in list(self.taps):
            tap.on_end(None)

    async def _playout_loop(self) -> None:
        while not self._closed:
            due = self.jitter.next_due_us()
            if due is None:
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), 0.1)
                continue
            delay = (due - now_us()) / 1e6
            if delay > 0:
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), delay)
                continue
            now = now_us()
            for item in self.jitter.pop(now):
                for tap in list(self.taps):
                    try:
                        tap.on_playout(item, now)
                    except Exception:
                        log.exception("playout consumer failed")
