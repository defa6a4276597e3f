"""LiveService: live audio on a running ``Node`` (go live, listen, relay, record, share sets).

Attach one to a started node: ``live = LiveService(node); await live.start()``. It serves QUIC
on the node's listen IP, answers ``/djmesh/live/1.0.0`` over libp2p (where to dial, stored
sets), follows stream announcements on ``/djmesh/1/streams`` and relays what it receives.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import threading
import weakref
from collections.abc import AsyncIterator, Callable
from dataclasses import asdict, dataclass
from types import TracebackType
from typing import Any

from djmesh.node.clock import monotonic, now_ms, now_us, sleep, wait_set
from djmesh.node.errors import NodeError
from djmesh.node.events import MessageStored
from djmesh.node.live import sharing
from djmesh.node.live.broadcast import Broadcast
from djmesh.node.live.capture import primed_packets
from djmesh.node.live.codec import PCM
from djmesh.node.live.consumers import ListenSession, ListenStats, VerifiedFeed, decode_segments
from djmesh.node.live.errors import LiveError
from djmesh.node.live.hub import Address, StreamHub
from djmesh.node.live.keeper import SetKeeper
from djmesh.node.live.paywall import JoinGate, StreamPayer
from djmesh.node.live.quic import QuicTransport
from djmesh.node.live.recorder import Recorder
from djmesh.node.live.session import (
    MAX_REQUEST_BYTES,
    MAX_RESPONSE_BYTES,
    PROTOCOL_ID,
    Request,
    decode_map,
    encode_map,
    parse_candidates,
)
from djmesh.node.live.set_audio import SetAudio
from djmesh.node.live.sets import (
    SetLibrary,
    SetSegment,
    StoredSet,
    decode_announce,
    decode_end,
)
from djmesh.node.live.sinks import Sink, open_default_sink
from djmesh.node.live.subscription import Subscription
from djmesh.node.live.transport import ControlMessage, Link, Transport, read, send
from djmesh.node.node import Node
from djmesh.node.p2p import P2PError
from djmesh.protocol.cbor import CborKey, CborValue
from djmesh.protocol.envelope import SignedEnvelope
from djmesh.protocol.errors import ProtocolError
from djmesh.protocol.listen import StreamPrice, sign_ticket
from djmesh.protocol.ratelimit import KeyedTokenBuckets, RateLimit
from djmesh.protocol.relay import MAX_CANDIDATES, MAX_HOPS, Candidate, Join, Pay, Probe, Redirect
from djmesh.protocol.stream import (
    MAX_FRAME_DATAGRAM,
    MIN_BITRATE,
    STREAMS_TOPIC,
    SegmentSigner,
    StreamAnnounce,
    StreamCue,
    StreamEnd,
    StreamTempo,
    max_live_bitrate,
)

log = logging.getLogger(__name__)

DEFAULT_MAX_CHILDREN = 8
LOCATE_PEERS = 6
VERIFY_GRACE_S = 2.5  # after playout stops, how long a listener waits for the last segment's signature
SERVED_SETS_CACHED = 4  # verified sets kept in memory for peers' page requests
LIVE_END_WAIT_S = 3.0  # how long a set's audio waits for our own live copy to end before asking peers
MAX_CUES_PER_STREAM = 512
#: of each kind (end, tempo, cue), what is read back from the store when a stream's announcement comes late
MAX_HELD_METADATA = MAX_CUES_PER_STREAM
#: streams this node remembers (announcement, end, tempo, cues); past it the ones it neither plays, relays nor
#: broadcasts are forgotten, ended ones first, then the oldest (a flood of announcements costs a bounded table)
MAX_KNOWN_STREAMS = 1024
#: finished broadcasts of our own kept for `streams()` and for serving their sets' metadata
MAX_FINISHED_BROADCASTS = 32
TEMPO_MIN_INTERVAL_MS = 1000  # declarations of an unchanged transport are paced (gossip rate limits)
# Pages of a set or a recording ("set", "segments": up to ~0.5 MB each) a peer may ask of us: an asking costs
# a few bytes, an answer up to half a megabyte, so each peer has a budget. A 30-minute set is 60 pages.
PAGE_BUDGET = RateLimit(burst=60.0, per_second=5.0)
PAGE_PEERS_TRACKED = 1024


_SERVICES: weakref.WeakKeyDictionary[Node, LiveService] = weakref.WeakKeyDictionary()


def service_for(node: Node) -> LiveService | None:
    """The started LiveService attached to ``node``, if any."""
    return _SERVICES.get(node)


async def ensure_live(node: Node) -> LiveService:
    """The node's LiveService, started now if nobody attached one yet."""
    service = _SERVICES.get(node)
    if service is None:
        service = LiveService(node)
        await service.start()
    return service


def check_bitrate(bitrate: int, frame_ms: int = 20) -> None:
    """``LiveError`` unless every Opus packet at ``bitrate`` fits a frame datagram (so before going live)."""
    top = max_live_bitrate(frame_ms)
    if not MIN_BITRATE <= bitrate <= top:
        raise LiveError(
            f"bitrate must be {MIN_BITRATE}..{top} bit/s: a {frame_ms} ms Opus packet must fit one "
            f"{MAX_FRAME_DATAGRAM}-byte frame datagram"
        )


@dataclass(frozen=True)
class StreamInfo:
    stream_id: str
    title: str
    dj: str
    started_at: int
    bitrate: int
    live: bool
    local: bool
    stored: bool
    declared_bpm: float | None = None  # the DJ's signed stream_tempo (MIDI clock), if any

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


class _Acceptor:
    """Handles a fresh inbound link until it names a stream (probe or join)."""

    def __init__(self, service: LiveService) -> None:
        self._service = service
        self._stream: bytes | None = None  # the stream the link probed

    def on_datagram(self, link: Link, data: bytes) -> None:
        pass

    def on_control(self, link: Link, value: ControlMessage) -> None:
        message = read(link, value)
        if isinstance(message, Pay) and self._stream is not None:
            # a listener's voucher ahead of its join: a DJ that cut it off lets it back in once it has this
            gated = self._service.hub_for(self._stream)
            if gated is not None and gated.gate is not None:
                gated.gate.take_voucher(self._stream, link, message.voucher)
            return
        if not isinstance(message, (Probe, Join)):
            return  # nothing else is meaningful before a link names its stream
        self._stream = message.stream
        hub = self._service.hub_for(message.stream)
        if hub is None:
            send(link, Redirect("unknown stream"))
        elif isinstance(message, Probe):
            hub.apply_marks(message.marks)
            send(link, hub.probe_reply(message.gone))
        elif hub.join(link, message):
            link.handler = hub

    def on_closed(self, link: Link, reason: str) -> None:
        pass


class LiveService:
    def __init__(
        self,
        node: Node,
        *,
        max_children: int = DEFAULT_MAX_CHILDREN,
        transport: Transport | None = None,
        host: str | None = None,
        keep_sets: bool = True,
        verified_playout: bool | None = None,
    ) -> None:
        """``verified_playout``: play only frames whose segment verified (None: config.toml's
        ``[live] verified_playout``, off by default)."""
        self.node = node
        self.max_children = max_children
        self._transport: Transport = transport or QuicTransport()
        self._host = host
        self.address: Address = ("", 0)
        self.sets = SetLibrary(node.home.root / "live" / "sets")
        self._keep_sets = keep_sets
        # play only frames whose segment verified (about 1.6 s behind instead of a few ms; see PROTOCOL.md)
        self.verified_playout = (
            node.config.live.verified_playout if verified_playout is None else verified_playout
        )
        self.keeper = SetKeeper(self.sets, self._ask, self._peers_for)
        self._assembling: set[asyncio.Task[None]] = set()
        self._served: dict[bytes, tuple[tuple[int, int], StoredSet]] = {}
        self._pages = KeyedTokenBuckets(PAGE_BUDGET, tracked=PAGE_PEERS_TRACKED)
        self._broadcasts: dict[bytes, Broadcast] = {}
        self._subscriptions: dict[bytes, Subscription] = {}
        self._subscribing: dict[bytes, asyncio.Future[Subscription]] = {}
        self._announces: dict[bytes, SignedEnvelope] = {}
        self._ends: dict[bytes, SignedEnvelope] = {}
        self._tempos: dict[bytes, SignedEnvelope] = {}
        self._cues: dict[bytes, list[SignedEnvelope]] = {}
        self._changed = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._listener: Any = None
        self._inbound: set[Link] = set()
        self.max_inbound = 4 * max_children + 64
        # Pays for priced streams this node subscribes to (a `ListenPayer`); None: free streams only.
        self.payer: StreamPayer | None = None

    # -- lifecycle -----------------------------------------------------------------------------

    async def __aenter__(self) -> LiveService:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    async def start(self) -> None:
        if (node_service := _SERVICES.get(self.node)) and node_service is not self:
            raise LiveError("this node already has a LiveService")
        _SERVICES[self.node] = self
        bind, advertised = self._addresses()
        self._listener = await self._transport.listen(bind, self._on_link)
        host, port = self._listener.address
        self.address = (advertised if host in ("0.0.0.0", "::") else host, port)
        self.node.host.set_request_handler(PROTOCOL_ID, self._serve, max_request_bytes=MAX_REQUEST_BYTES)
        for kind in (StreamAnnounce.KIND, StreamEnd.KIND, StreamTempo.KIND, StreamCue.KIND):
            for stored in reversed(self.node.store.query(kind=kind, limit=500)):
                self._learn(stored.envelope)
        self._tasks = [
            asyncio.ensure_future(self._follow_events()),
            asyncio.ensure_future(self._housekeeping()),
        ]
        await self.node.join_topic(STREAMS_TOPIC)
        log.info("live: QUIC on %s:%d", *self.address)

    async def close(self) -> None:
        if _SERVICES.get(self.node) is self:
            del _SERVICES[self.node]
        for broadcast in list(self._broadcasts.values()):
            await broadcast.stop()
        for subscription in list(self._subscriptions.values()):
            await subscription.close()
        self._subscriptions.clear()
        for task in [*self._tasks, *self._assembling]:
            task.cancel()
        self.keeper.close()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        if self._listener is not None:
            self._listener.close()
            self._listener = None

    def _addresses(self) -> tuple[str, str]:
        """Bind where libp2p listens; advertise an address peers can reach."""
        host = self._host
        if host is None:
            for addr in self.node.listen_addrs:
                parts = addr.split("/")
                if len(parts) > 2 and parts[1] == "ip4":
                    host = parts[2]
                    break
        host = host or "127.0.0.1"
        if host != "0.0.0.0":
            return host, host
        with contextlib.suppress(OSError), socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            probe.connect(("192.0.2.1", 9))  # no packet is sent: this only picks the outgoing interface
            return host, str(probe.getsockname()[0])
        return host, "127.0.0.1"

    # -- announcements -------------------------------------------------------------------------

    def _learn(self, envelope: SignedEnvelope) -> None:
        message = envelope.message
        if isinstance(message, StreamAnnounce):
            if envelope.content_id not in self._announces:
                self._announces[envelope.content_id] = envelope
                self._forget_streams_over_bound()
                if self._tasks:  # (at start every stored end, tempo and cue is read after the announcements)
                    self._learn_held_metadata(envelope)
        elif isinstance(message, StreamEnd):
            # Only the stream's DJ ends it. An end before its announcement waits in the store: taken as it
            # came, anyone who saw the announcement could end the stream, at every node it had not reached
            # yet, with an end of their own signed and sent at once (listeners were then refused).
            announce = self._announces.get(message.stream)
            if announce is None or announce.author != envelope.author:
                return
            self._ends.setdefault(message.stream, envelope)
        elif isinstance(message, StreamTempo | StreamCue):
            self._learn_metadata(envelope, message)
            return
        else:
            return
        self._changed.set()

    def _forget_streams_over_bound(self) -> None:
        excess = len(self._announces) - MAX_KNOWN_STREAMS
        if excess <= 0:
            return
        in_use = self._broadcasts.keys() | self._subscriptions.keys() | self._subscribing.keys()
        idle = [stream for stream in self._announces if stream not in in_use]
        idle.sort(key=lambda stream: (stream not in self._ends, self._announces[stream].created_at_ms))
        for stream in idle[:excess]:
            del self._announces[stream]
            for table in (self._ends, self._tempos, self._cues):
                table.pop(stream, None)
        if len(idle) < excess:
            log.warning("live: %d streams in use, over the bound of %d", len(in_use), MAX_KNOWN_STREAMS)

    def _forget_finished_broadcasts(self) -> None:
        finished = [stream for stream, broadcast in self._broadcasts.items() if broadcast.done.is_set()]
        for stream in finished[: max(0, len(finished) - MAX_FINISHED_BROADCASTS)]:
            del self._broadcasts[stream]

    def _learn_held_metadata(self, announce: SignedEnvelope) -> None:
        """The end, tempo and cues this node stored before the stream's announcement.

        Gossip does not keep order (py-libp2p handles each message in its own task, a busy node defers some,
        and a sync serves messages of the same millisecond in content-ID order), and a tempo learned before
        its announcement was ignored for good: a listener never saw it, though it held it."""
        for kind in (StreamEnd.KIND, StreamTempo.KIND, StreamCue.KIND):
            held = self.node.store.query(
                author=announce.author, kind=kind, since_ms=announce.created_at_ms, limit=MAX_HELD_METADATA
            )
            for stored in reversed(held):
                message = stored.envelope.message
                if (
                    isinstance(message, StreamEnd | StreamTempo | StreamCue)
                    and message.stream == announce.content_id
                ):
                    self._learn(stored.envelope)

    def _learn_metadata(self, envelope: SignedEnvelope, message: StreamTempo | StreamCue) -> None:
        """Tempo and cues count only from the DJ who announced the stream."""
        announce = self._announces.get(message.stream)
        if announce is None or announce.author != envelope.author:
            log.debug("live: %s for an unknown stream or from another author ignored", envelope.kind)
            return
        if isinstance(message, StreamTempo):
            known = self._tempos.get(message.stream)
            if known is None or envelope.created_at_ms >= known.created_at_ms:
                self._tempos[message.stream] = envelope
            return
        cues = self._cues.setdefault(message.stream, [])
        if len(cues) < MAX_CUES_PER_STREAM and all(c.content_id != envelope.content_id for c in cues):
            cues.append(envelope)
            cues.sort(key=lambda c: c.message.at_us if isinstance(c.message, StreamCue) else 0)

    async def _follow_events(self) -> None:
        async for event in self.node.events():
            if isinstance(event, MessageStored):
                self._learn(event.envelope)

    async def _housekeeping(self) -> None:
        while True:
            await sleep(0.25)
            for broadcast in self._broadcasts.values():
                broadcast.hub.sweep()
            for stream, subscription in list(self._subscriptions.items()):
                if subscription.error is not None or (
                    subscription.ended is not None and not subscription.taps
                ):
                    await sleep(1.0)  # let children hear the end from us
                    if self._subscriptions.get(stream) is subscription:
                        del self._subscriptions[stream]
                    await subscription.close()

    def streams(self) -> list[StreamInfo]:
        """Every stream this node has heard of, newest first."""
        out = []
        for stream, envelope in self._announces.items():
            message = envelope.message
            assert isinstance(message, StreamAnnounce)
            broadcast = self._broadcasts.get(stream)
            out.append(
                StreamInfo(
                    stream_id=stream.hex(),
                    title=message.title,
                    dj=envelope.author_peer_id,
                    started_at=envelope.created_at_ms,
                    bitrate=message.bitrate,
                    live=stream not in self._ends and (broadcast is None or broadcast.live),
                    local=broadcast is not None,
                    stored=self.sets.has(stream),
                    declared_bpm=tempo.bpm if (tempo := self.declared_tempo(stream)) else None,
                )
            )
        return sorted(out, key=lambda s: -s.started_at)

    # -- going live ----------------------------------------------------------------------------

    async def start_stream(
        self,
        source: str,
        *,
        title: str | None = None,
        bitrate: int = 128_000,
        channels: int = 2,
        frame_ms: int = 20,
        segment_frames: int = 50,
        price: StreamPrice | None = None,
        gate: JoinGate | None = None,
    ) -> str:
        """Go live from ``source`` (anything PyAV opens); returns the stream ID (hex).

        A ``price`` makes it a pay-per-listen stream: ``gate`` (the DJ's `ListenSeller`) then
        decides who may join, and only this node serves it (see `ListenSeller.start_stream`).
        """
        if price is not None and gate is None:
            raise LiveError("a priced stream needs a gate that checks who paid")
        if frame_ms not in (10, 20):
            raise LiveError("frame_ms must be 10 or 20")
        check_bitrate(bitrate, frame_ms)
        stop = threading.Event()
        packets = await asyncio.to_thread(
            primed_packets, source, bitrate=bitrate, channels=channels, frame_ms=frame_ms, stop=stop
        )
        announce_message = StreamAnnounce(
            title=(title if title is not None else os.path.basename(source))[:128],
            bitrate=bitrate,
            channels=channels,
            frame_ms=frame_ms,
            segment_frames=segment_frames,
            nonce=os.urandom(8),
            price=price,
        )
        try:
            announce_message = StreamAnnounce.parse(dict(announce_message.to_payload().items()))
        except ProtocolError as exc:
            stop.set()
            raise LiveError(f"invalid stream settings: {exc}") from exc
        envelope = await self.node.publish(announce_message)
        stream = envelope.content_id
        self._learn(envelope)
        hub = StreamHub(
            stream,
            envelope.wire,
            own_address=self.address,
            max_children=self.max_children,
            segment_frames=segment_frames,
        )
        hub.gate = gate if price is not None else None
        broadcast = Broadcast(
            envelope,
            packets,
            stop,
            signing_key=self.node.identity.signing_key,
            hub=hub,
            writer=self.sets.writer(envelope) if self._keep_sets else None,
            publish_end=lambda signer: self._publish_end(stream, signer),
        )
        self._forget_finished_broadcasts()
        self._broadcasts[stream] = broadcast
        broadcast.start()
        log.info("live: streaming %s as %s", source, stream.hex())
        return stream.hex()

    async def _publish_end(self, stream: bytes, signer: SegmentSigner) -> SignedEnvelope | None:
        try:
            envelope = await self.node.publish(
                StreamEnd(stream, segments=signer.index, frames=signer.frames, head=signer.head)
            )
        except NodeError as exc:
            log.warning("could not announce the end of %s: %s", stream.hex()[:8], exc)
            return None
        self._learn(envelope)
        return envelope

    async def stop_stream(self, stream_id: str | None = None) -> list[str]:
        """Stop one of our streams (default: all of them); returns the IDs stopped."""
        if stream_id is None:
            targets = [s for s, b in self._broadcasts.items() if b.live]
        else:
            stream = _stream_bytes(stream_id)
            if stream not in self._broadcasts:
                raise LiveError(f"this node is not streaming {stream_id}")
            targets = [stream]
        for stream in targets:
            await self._broadcasts[stream].stop()
        return [s.hex() for s in targets]

    # -- stream metadata (declared tempo, live cues) ------------------------------------------

    def declared_tempo(self, stream_id: str | bytes) -> StreamTempo | None:
        """The newest tempo the stream's DJ declared (``stream_tempo``), if any."""
        envelope = self._tempos.get(_stream_bytes(stream_id))
        message = envelope.message if envelope is not None else None
        return message if isinstance(message, StreamTempo) else None

    def cues(self, stream_id: str | bytes) -> list[StreamCue]:
        """Track changes the stream's DJ marked live, in capture-time order."""
        envelopes = self._cues.get(_stream_bytes(stream_id), [])
        return [e.message for e in envelopes if isinstance(e.message, StreamCue)]

    def price(self, stream_id: str | bytes) -> StreamPrice | None:
        """What listening to a stream costs (None: free, or not announced to us)."""
        announced = self._announced(stream_id)
        return announced.price if announced is not None else None

    def frame_seconds(self, stream_id: str | bytes) -> float | None:
        """Seconds of audio in one frame of a stream (None: not announced to us)."""
        announced = self._announced(stream_id)
        return announced.frame_ms / 1000 if announced is not None else None

    def _announced(self, stream_id: str | bytes) -> StreamAnnounce | None:
        envelope = self._announces.get(_stream_bytes(stream_id))
        message = envelope.message if envelope is not None else None
        return message if isinstance(message, StreamAnnounce) else None

    def _own_live(self, stream_id: str | None) -> list[bytes]:
        if stream_id is not None:
            stream = _stream_bytes(stream_id)
            broadcast = self._broadcasts.get(stream)
            if broadcast is None or not broadcast.live:
                raise LiveError(f"this node is not streaming {stream_id}")
            return [stream]
        return [s for s, b in self._broadcasts.items() if b.live]

    async def declare_tempo(
        self,
        bpm: float,
        *,
        running: bool = True,
        beat_us: int | None = None,
        source: str = "midi_clock",
        stream_id: str | None = None,
    ) -> list[str]:
        """Sign the tempo into our live streams' metadata; returns the streams it went to.

        An unchanged declaration within ``TEMPO_MIN_INTERVAL_MS`` is skipped (gossip is rate limited).
        """
        millibpm = round(bpm * 1000)
        if not StreamTempo.MIN_MILLIBPM <= millibpm <= StreamTempo.MAX_MILLIBPM:
            raise LiveError(
                f"tempo must be {StreamTempo.MIN_MILLIBPM // 1000}..{StreamTempo.MAX_MILLIBPM // 1000} bpm"
            )
        if source not in StreamTempo.SOURCES:
            raise LiveError(f"source must be one of {', '.join(StreamTempo.SOURCES)}")
        sent = []
        for stream in self._own_live(stream_id):
            known = self._tempos.get(stream)
            previous = known.message if known is not None else None
            if (
                known is not None
                and isinstance(previous, StreamTempo)
                and previous.running == running
                and abs(previous.millibpm - millibpm) < 50
                and now_us() // 1000 - known.created_at_ms < TEMPO_MIN_INTERVAL_MS
            ):
                continue
            envelope = await self.node.publish(
                StreamTempo(stream, millibpm=millibpm, running=running, beat_us=beat_us, source=source)
            )
            self._learn(envelope)
            sent.append(stream.hex())
        return sent

    async def mark_cue(
        self, title: str = "", *, stream_id: str | None = None, at_us: int | None = None
    ) -> list[str]:
        """Sign a track change (now, on the capture clock) into our live streams; returns the streams."""
        at = at_us if at_us is not None else now_us()
        sent = []
        for stream in self._own_live(stream_id):
            envelope = await self.node.publish(StreamCue(stream, at_us=at, title=title[:128]))
            self._learn(envelope)
            sent.append(stream.hex())
        return sent

    def broadcast_error(self, stream_id: str) -> str | None:
        broadcast = self._broadcasts.get(_stream_bytes(stream_id))
        return broadcast.error if broadcast is not None else None

    # -- serving peers -------------------------------------------------------------------------

    def _on_link(self, link: Link) -> None:
        """A peer dialled us; it must name a stream before it gets anything. Bounded, against floods."""
        self._inbound = {known for known in self._inbound if not known.closed}
        if len(self._inbound) >= self.max_inbound:
            log.info("live: refusing a link from %s: %d links open", link.remote, len(self._inbound))
            link.close("too many links")
            return
        self._inbound.add(link)
        link.handler = _Acceptor(self)

    def hub_for(self, stream: bytes) -> StreamHub | None:
        broadcast = self._broadcasts.get(stream)
        if broadcast is not None:
            return broadcast.hub
        subscription = self._subscriptions.get(stream)
        if subscription is not None and subscription.parent is not None and subscription.error is None:
            return subscription.hub
        return None

    async def _serve(self, data: bytes, peer: str) -> bytes:
        try:
            request = Request.decode(data)
        except ProtocolError as exc:
            log.info("bad live request from %s: %s", peer, exc)
            return encode_map({"error": str(exc)})
        announce = self._announces.get(request.stream)
        end = self._ends.get(request.stream)
        reply: dict[str, CborValue] = {
            "announce": announce.wire if announce else None,
            "end": end.wire if end else None,
        }
        if request.op == "locate":
            hub = self.hub_for(request.stream)
            candidates: list[CborValue] = []
            if hub is not None:
                own = Candidate(self.address, min(hub.hops, MAX_HOPS), hub.free)
                candidates.extend(c.to_value() for c in [own, *hub.candidates()][:MAX_CANDIDATES])
            reply["candidates"] = candidates
            return encode_map(reply)
        if not self._pages.allow(peer, now_ms()):
            log.info("live request from %s refused: over its page budget", peer)
            return encode_map({**reply, "segments": [], "more": False, "error": "busy: too many pages asked"})
        if request.op == "segments":
            held = await self._held_segments(request)
            if held is None:
                return encode_map({**reply, "segments": [], "more": False, "error": "no such set here"})
            return encode_map({**reply, "segments": held, "more": False})
        stored = await self._served_set(request.stream)
        if stored is None:
            return encode_map({**reply, "segments": [], "more": False, "error": "no such set here"})
        page = stored.segments[request.start : request.start + request.limit]
        reply.update(
            {
                "announce": stored.announce.wire,
                "end": stored.end.wire if stored.end else None,
                "segments": [segment.record() for segment in page],
                "more": request.start + len(page) < len(stored.segments),
            }
        )
        return encode_map(reply)

    async def _held_segments(self, request: Request) -> list[CborValue] | None:
        """The whole segments we hold in the request's range, from our set or else our recording."""
        stored = await self._served_set(request.stream)
        recording = None if stored is not None else self.keeper.recording(request.stream)
        return await sharing.held_segments(stored, recording, request.start, request.limit)

    async def _served_set(self, stream: bytes) -> StoredSet | None:
        """Our set of ``stream`` for a peer's page, verified once per version of the file (at the end of a
        battle every judge that lacks a segment asks the DJ at once; a DJ's live set grows)."""
        try:
            info = self.sets.path(stream).stat()
        except OSError:
            return None
        version = (info.st_mtime_ns, info.st_size)
        cached = self._served.get(stream)
        if cached is not None and cached[0] == version:
            return cached[1]
        stored = await asyncio.to_thread(self.sets.load, stream)
        if stored is not None:
            self._served.pop(stream, None)
            while len(self._served) >= SERVED_SETS_CACHED:
                self._served.pop(next(iter(self._served)))
            self._served[stream] = (version, stored)
        return stored

    async def _ask(self, peer: str, request: Request) -> dict[str, CborValue] | None:
        try:
            raw = await self.node.host.request(
                peer, PROTOCOL_ID, request.encode(), max_response_bytes=MAX_RESPONSE_BYTES, timeout_s=10.0
            )
            return decode_map(raw)
        except (P2PError, ProtocolError) as exc:  # e.g. a bootstrap server, which has no live service
            log.debug("live %s to %s failed: %s", request.op, peer, exc)
            return None

    def _peers_for(self, stream: bytes) -> list[str]:
        """The DJ first (it always carries its stream), then other connected peers."""
        peers = [info.peer_id for info in self.node.peers()]
        announce = self._announces.get(stream)
        first = [announce.author_peer_id] if announce is not None else []
        return list(dict.fromkeys(first + peers))[: LOCATE_PEERS + 1]

    async def locate(self, stream: bytes) -> list[Address]:
        """Where to dial for ``stream``, asking the DJ and a few connected peers over libp2p."""
        replies = await asyncio.gather(
            *(self._ask(p, Request("locate", stream)) for p in self._peers_for(stream))
        )
        found: list[Address] = []
        for reply in replies:
            if reply is None:
                continue
            self._absorb(stream, reply)
            found.extend(parse_candidates(reply.get("candidates")))
        return [a for a in dict.fromkeys(found) if a != self.address]

    def _absorb(self, stream: bytes, reply: dict[str, CborValue]) -> None:
        """Learn a verified announcement / end from a peer's reply."""
        announce_wire, end_wire = reply.get("announce"), reply.get("end")
        try:
            if isinstance(announce_wire, bytes) and stream not in self._announces:
                fresh = decode_announce(announce_wire)
                if fresh.content_id == stream:
                    self._learn(fresh)
            known = self._announces.get(stream)
            if isinstance(end_wire, bytes) and known is not None and stream not in self._ends:
                self._learn(decode_end(end_wire, known))
        except ProtocolError as exc:
            log.info("peer sent a bad stream announcement: %s", exc)

    # -- listening -----------------------------------------------------------------------------

    async def _announcement(self, stream: bytes, timeout_s: float = 10.0) -> SignedEnvelope:
        deadline = monotonic() + timeout_s
        while stream not in self._announces:
            await self.locate(stream)
            if stream in self._announces:
                break
            if monotonic() > deadline:
                raise LiveError(f"unknown stream {stream.hex()}: no peer announced it")
            self._changed.clear()
            await wait_set(self._changed, 1.0)
        return self._announces[stream]

    async def subscribe(
        self, stream_id: str | bytes, *, verified_playout: bool = False
    ) -> Subscription | Broadcast:
        """Receive (and relay) ``stream_id``; our own broadcast is returned as is.

        ``verified_playout``: play only verified frames from now on, whatever the service's default (a
        subscription already playing unverified frames switches; one never switches back).
        """
        stream = _stream_bytes(stream_id) if isinstance(stream_id, str) else stream_id
        if stream in self._broadcasts:
            return self._broadcasts[stream]
        subscription = await self._subscription(stream, verified_playout or self.verified_playout)
        if verified_playout:
            subscription.play_verified_only()  # already subscribed, playing unverified frames
        return subscription

    async def _subscription(self, stream: bytes, verified_playout: bool) -> Subscription:
        existing = self._subscriptions.get(stream)
        if existing is not None and existing.error is None:
            return existing
        pending = self._subscribing.get(stream)
        if pending is not None:
            return await asyncio.shield(pending)
        future: asyncio.Future[Subscription] = asyncio.get_running_loop().create_future()
        self._subscribing[stream] = future
        try:
            subscription = await self._subscribe(stream, verified_playout)
            future.set_result(subscription)
            return subscription
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # retrieved: nobody else may be waiting
            raise
        finally:
            self._subscribing.pop(stream, None)

    async def _subscribe(self, stream: bytes, verified_playout: bool) -> Subscription:
        announce = await self._announcement(stream)
        if stream in self._ends:
            raise LiveError(f"stream {stream.hex()} has ended; fetch its set instead")
        price = announce.message.price if isinstance(announce.message, StreamAnnounce) else None
        voucher: bytes | None = None
        if price is not None:
            if self.payer is None:
                raise LiveError(
                    f"stream {stream.hex()} costs {price.wei_per_s} wei/s and this node has no wallet to pay"
                )
            voucher = await self.payer.before_join(announce, price)
        candidates = await self.locate(stream)
        subscription = Subscription(
            announce,
            transport=self._transport,
            own_address=self.address,
            # A priced stream is served by its DJ only: we do not relay what others must pay for.
            max_children=0 if price is not None else self.max_children,
            locate=self.locate,
            recording=self.keeper.record(announce) if self._keep_sets and not self.sets.has(stream) else None,
            join_ticket=self._ticket_for(stream) if price is not None else None,
            known_end=lambda: self._ends.get(stream),
            verified_playout=verified_playout,
            voucher=voucher,
        )
        try:
            await subscription.start(candidates)
        except (ConnectionError, OSError) as exc:
            await subscription.close()
            raise LiveError(f"cannot reach stream {stream.hex()}: {exc}") from exc
        self._subscriptions[stream] = subscription
        task = asyncio.ensure_future(self._assemble_when_done(subscription))
        self._assembling.add(task)
        task.add_done_callback(self._assembling.discard)
        if price is not None and self.payer is not None:
            self.payer.joined(subscription)
        return subscription

    async def _assemble_when_done(self, subscription: Subscription) -> None:
        """Once the stream ends, store our recording as the set if it holds every segment (nothing fetched)."""
        await subscription.done.wait()
        if subscription.ended is not None:
            await self.keeper.complete(subscription.ended, peers=[])

    def _ticket_for(self, stream: bytes) -> Callable[[], dict[CborKey, CborValue]]:
        key = self.node.identity.signing_key
        return lambda: sign_ticket(key, stream, now_us() // 1000).to_value()

    async def _open_sink_for(self, stream: bytes) -> Sink:
        """The default sink for ``stream``, opened before subscribing: it takes a trip to a thread, and what a
        new subscription plays meanwhile (its catch-up falls due at once) would be heard by nobody."""
        own = self._broadcasts.get(stream)
        message = own.info if own is not None else (await self._announcement(stream)).message
        return await open_default_sink(message.channels if isinstance(message, StreamAnnounce) else 2)

    async def listen(
        self,
        stream_id: str,
        *,
        record: str | None = None,
        seconds: float | None = None,
        sink: Sink | None = None,
        verified_playout: bool = False,
    ) -> ListenStats:
        """Play ``stream_id`` (a null sink where there is no sound device) until it ends or ``seconds``.

        ``verified_playout``: play only verified frames (`djmesh listen --verified-playout`), whatever
        the service's default."""
        stream = _stream_bytes(stream_id)
        opened = sink is None
        if sink is None:
            sink = await self._open_sink_for(stream)
        try:
            source = await self.subscribe(stream, verified_playout=verified_playout)
        except BaseException:
            if opened:
                sink.close()
            raise
        info = source.info
        recorder = Recorder(record, channels=info.channels, bitrate=info.bitrate) if record else None
        session = ListenSession(
            stream.hex(),
            sink=sink,
            recorder=recorder,
            channels=info.channels,
            frame_ms=info.frame_ms,
        )
        source.taps.add(session)
        try:
            await wait_set(session.ended, seconds)
            await self._await_verified(source, session)
        finally:
            source.taps.discard(session)
        if isinstance(source, Subscription):
            stats = session.finish(
                hops=source.hops,
                dropped=source.verifier.counts,
                jitter_delay_us=source.jitter.delay_us,
                reparents=source.reparents,
                recovered=source.recovered,
            )
            stats.verified_playout = source.verified_playout
            return stats
        return session.finish(hops=0, dropped={}, jitter_delay_us=0, reparents=0)

    async def _await_verified(self, source: Subscription | Broadcast, session: ListenSession) -> None:
        """Give the segment that was playing when we stopped time to be signed, so the recording ends clean."""
        target = session.last_seq
        if target is None:
            return
        deadline = monotonic() + VERIFY_GRACE_S
        while monotonic() < deadline:
            upto = session.recorded_upto
            if upto is not None and upto > target:
                return
            if isinstance(source, Subscription) and source.error is not None:
                return
            session.progress.clear()
            await wait_set(session.progress, deadline - monotonic())  # a segment recorded, or the source lost

    # -- verified audio for other subsystems (judge, meters) -----------------------------------

    async def segments(self, stream_id: str) -> AsyncIterator[SetSegment]:
        """Verified segments of a live stream (the DJ's signed frames), from now until it ends."""
        source = await self.subscribe(stream_id)
        feed = VerifiedFeed()
        source.taps.add(feed)
        try:
            async for segment in feed.segments():
                yield segment
        finally:
            source.taps.discard(feed)

    async def pcm(self, stream_id: str) -> AsyncIterator[PCM]:
        """Verified, decoded audio: float32 (samples, channels) at 48 kHz, one chunk per segment."""
        source = await self.subscribe(stream_id)
        info = source.info
        async for _seq, chunk in decode_segments(
            self.segments(stream_id), channels=info.channels, frame_ms=info.frame_ms
        ):
            yield chunk

    # -- sets ----------------------------------------------------------------------------------

    def stored_set(self, stream_id: str) -> StoredSet | None:
        """The verified signed record of a stream this node kept (or fetched)."""
        return self.sets.load(_stream_bytes(stream_id))

    async def fetch_set(self, stream_id: str, *, peers: list[str] | None = None) -> StoredSet:
        """A finished stream's whole set: ours, or our recording with its gaps filled from peers, or
        fetched whole from peers (the DJ first), every page verified."""
        stream = _stream_bytes(stream_id)
        local = await asyncio.to_thread(self.sets.load, stream)
        if local is not None and local.complete:
            return local
        asked = peers or self._peers_for(stream)
        end = self._ends.get(stream)
        if end is None and stream in self._announces:
            await self.locate(stream)  # the replies carry the signed end, if the stream ended
            end = self._ends.get(stream)
        if end is not None:
            assembled = await self.keeper.complete(end, asked)
            if assembled is not None:
                return assembled
            local = await asyncio.to_thread(self.sets.load, stream)  # assembled meanwhile by another caller
            if local is not None and local.complete:
                return local
        errors: list[str] = []
        for peer in asked:
            try:
                fetched = await sharing.fetch_from(self._ask, peer, stream)
            except (LiveError, ProtocolError) as exc:
                errors.append(f"{peer[-8:]}: {exc}")
                continue
            if fetched.complete or local is None or len(fetched.segments) > len(local.segments):
                await self._store_set(fetched)
                if fetched.complete:
                    return fetched
                local = fetched
        if local is not None:
            return local
        raise LiveError(f"no peer could provide the set of {stream_id} ({'; '.join(errors) or 'no peers'})")

    async def _store_set(self, stored: StoredSet) -> None:
        await asyncio.to_thread(sharing.store_set, self.sets, stored)
        self._learn(stored.announce)
        if stored.end is not None:
            self._learn(stored.end)

    async def export_set(self, stream_id: str, path: str) -> float:
        """Replay a finished stream's verified set into an audio file (wav/ogg/flac); seconds written."""
        stored = self.stored_set(stream_id) or await self.fetch_set(stream_id)
        return await sharing.export_set(stored, path)

    async def keep_set(
        self, stream_id: str, *, max_samples: int | None = None, features: bool = False
    ) -> None:
        """Receive a stream and keep its whole signed set, decoded as it arrives up to ``max_samples``
        (what a judge needs: a battle's set length), with the judge's feature pass if ``features``."""
        stream = _stream_bytes(stream_id)
        announce = await self._announcement(stream)
        if not self.sets.has(stream):
            self.keeper.decode_while_live(announce, max_samples, features=features)
        await self.subscribe(stream)

    async def set_audio(
        self, stream_id: str, *, max_samples: int | None = None, marks: dict[str, int] | None = None
    ) -> SetAudio:
        """The audio of a finished stream's whole signed set, mono float32 at 48 kHz, up to ``max_samples``:
        the same samples on every honest node (with their feature pass if ``keep_set`` asked for it). ``LiveError`` while the set is not whole here (never a set
        with a hole). ``marks`` gets the wall ms at which our live copy ended (``live_end``), the set was
        whole here (``whole``) and decoded (``decoded``): where a judge's seconds go."""
        stream = _stream_bytes(stream_id)
        subscription = self._subscriptions.get(stream)
        if subscription is not None and not subscription.done.is_set():
            await wait_set(subscription.done, LIVE_END_WAIT_S)  # our live copy is cheaper than asking peers
        _mark(marks, "live_end")
        stored = await self.fetch_set(stream_id)
        if not stored.complete:
            raise LiveError(
                f"the set of {stream_id[:12]} is not whole yet ({len(stored.segments)} segments, "
                f"{stored.missing_frames} frames missing, {'ended' if stored.end else 'no end yet'})"
            )
        _mark(marks, "whole")
        audio = await self.keeper.audio(stored, max_samples)
        _mark(marks, "decoded")
        return audio

    async def set_pcm(self, stream_id: str) -> AsyncIterator[PCM]:
        """Replay a stored (or fetched) set: verified PCM per segment, as fast as it decodes."""
        stored = self.stored_set(stream_id) or await self.fetch_set(stream_id)
        async for chunk in sharing.replay_pcm(stored):
            yield chunk


def _mark(marks: dict[str, int] | None, what: str) -> None:
    if marks is not None:
        marks[what] = now_ms()


def _stream_bytes(stream_id: str | bytes) -> bytes:
    if isinstance(stream_id, bytes):
        stream = stream_id
    else:
        try:
            stream = bytes.fromhex(stream_id.strip())
        except ValueError:
            raise LiveError(f"{stream_id!r} is not a stream ID (64 hex digits)") from None
    if len(stream) != 32:
        raise LiveError(f"{stream_id!r} is not a stream ID (64 hex digits)")
    return stream
