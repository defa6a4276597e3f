"""Live streams (sans-IO): announcements, Opus frame datagrams, signed segments, verifier, jitter buffer.

A DJ announces a stream with a ``stream_announce`` envelope; its content ID is the stream ID.
Frames travel unsigned (one per datagram) so a relay can forward them the moment they arrive.
Every ``segment_frames`` frames (1 s by default) the DJ signs a *segment manifest*: the stream
ID, the segment index, the previous manifest's digest (a hash chain back to the announcement)
and a 16-byte hash of each frame. Listeners and relays play frames at once and verify them when
their manifest arrives; what verifies is the stream's canonical record (the judge's input).
No sockets, no clocks: every method that needs the time takes ``now_us``.
"""

from __future__ import annotations

import bisect
import hashlib
import itertools
import struct
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import ClassVar, Self

import nacl.exceptions
import nacl.signing

from djmesh.protocol import cbor, schema
from djmesh.protocol.cbor import CborValue
from djmesh.protocol.errors import (
    BadSignatureError,
    DecodeError,
    InvalidPayloadError,
    MalformedMessageError,
    MessageTooLargeError,
    ProtocolError,
)
from djmesh.protocol.listen import StreamPrice
from djmesh.protocol.messages import Message, register
from djmesh.protocol.topics import author_topic

STREAMS_TOPIC = "/djmesh/1/streams"
SEGMENT_CONTEXT = b"djmesh/segment/v1\x00"
FRAME_HASH_BYTES = 16
MAX_SEGMENT_FRAMES = 250
MAX_MANIFEST_BYTES = 512 + MAX_SEGMENT_FRAMES * FRAME_HASH_BYTES
FRAME_TYPE = 0x01
_FRAME_HEADER = struct.Struct(">BIQ")  # type, seq, capture time (us since the Unix epoch, DJ clock)
MAX_OPUS_PACKET = 1276  # RFC 6716: a TOC byte and one 1,275-byte frame, the most a 10 or 20 ms packet holds
# A frame datagram travels in one QUIC DATAGRAM frame in a packet of at most 1,200 bytes (RFC 9000 section 14: what
# every path carries; aioquic sends no bigger): 1,200 - 1 (flags) - 20 (the longest connection ID) - 4 (the longest
# packet number) - 16 (AEAD tag) - 3 (frame type and length). A bigger one aioquic keeps queued for ever, ahead of
# every later datagram on the link, so none is made, forwarded or accepted.
MAX_FRAME_DATAGRAM = 1156
MAX_LIVE_OPUS_PACKET = MAX_FRAME_DATAGRAM - _FRAME_HEADER.size  # 1,143 bytes
MIN_BITRATE = 6_000  # Opus's own floor and ceiling (what an announcement may say)
MAX_BITRATE = 510_000
_HASH_INPUT = struct.Struct(">IQ")


# -- announcements (gossip) -------------------------------------------------------------------------


@register
@dataclass(frozen=True)
class StreamAnnounce(Message):
    """A DJ goes live; the envelope's content ID is the stream ID that segments sign over.

    ``price`` (optional) makes it a pay-per-listen stream (see ``listen.py``); a free stream's
    payload has no ``price`` key at all, so its bytes and stream ID are what they were before.
    """

    KIND: ClassVar[str] = "stream_announce"
    FIELDS: ClassVar[frozenset[str]] = frozenset(
        {
            "title",
            "codec",
            "sample_rate",
            "channels",
            "bitrate",
            "frame_ms",
            "segment_frames",
            "nonce",
            "price",
        }
    )
    CODECS: ClassVar[tuple[str, ...]] = ("opus",)

    title: str
    codec: str = "opus"
    sample_rate: int = 48_000
    channels: int = 2
    bitrate: int = 128_000
    frame_ms: int = 20
    segment_frames: int = 50
    nonce: bytes = b""  # makes two streams with the same settings in the same ms distinct
    price: StreamPrice | None = None

    def to_payload(self) -> dict[str, CborValue]:
        payload: dict[str, CborValue] = {
            "title": self.title,
            "codec": self.codec,
            "sample_rate": self.sample_rate,
            "channels": self.channels,
            "bitrate": self.bitrate,
            "frame_ms": self.frame_ms,
            "segment_frames": self.segment_frames,
            "nonce": self.nonce,
        }
        if self.price is not None:
            payload["price"] = self.price.to_value()
        return payload

    @classmethod
    def from_payload(cls, payload: schema.Payload) -> Self:
        frame_ms = schema.integer(payload, "frame_ms", minimum=10, maximum=20)
        if frame_ms not in (10, 20):
            raise InvalidPayloadError("frame_ms: must be 10 or 20")
        sample_rate = schema.integer(payload, "sample_rate", minimum=48_000, maximum=48_000)
        return cls(
            title=schema.text(payload, "title", max_chars=128, default=""),
            codec=schema.choice(payload, "codec", cls.CODECS),
            sample_rate=sample_rate,
            channels=schema.integer(payload, "channels", minimum=1, maximum=2),
            bitrate=schema.integer(payload, "bitrate", minimum=MIN_BITRATE, maximum=MAX_BITRATE),
            frame_ms=frame_ms,
            segment_frames=schema.integer(payload, "segment_frames", minimum=1, maximum=MAX_SEGMENT_FRAMES),
            nonce=schema.blob(payload, "nonce", max_bytes=16),
            price=StreamPrice.from_value(payload["price"]) if payload.get("price") is not None else None,
        )

    @property
    def frame_us(self) -> int:
        return self.frame_ms * 1000

    def route(self, author: bytes, content_id: bytes) -> tuple[str, ...] | None:
        return (STREAMS_TOPIC, author_topic(author))


@register
@dataclass(frozen=True)
class StreamEnd(Message):
    """The DJ stopped: ``head`` is the last segment's digest, the set's content address."""

    KIND: ClassVar[str] = "stream_end"
    FIELDS: ClassVar[frozenset[str]] = frozenset({"stream", "segments", "frames", "head"})

    stream: bytes
    segments: int
    frames: int
    head: bytes

    def to_payload(self) -> dict[str, CborValue]:
        return {"stream": self.stream, "segments": self.segments, "frames": self.frames, "head": self.head}

    @classmethod
    def from_payload(cls, payload: schema.Payload) -> Self:
        return cls(
            stream=schema.required_digest(payload, "stream"),
            segments=schema.integer(payload, "segments", minimum=0, maximum=2**32),
            frames=schema.integer(payload, "frames", minimum=0, maximum=2**32),
            head=schema.required_digest(payload, "head"),
        )

    def route(self, author: bytes, content_id: bytes) -> tuple[str, ...] | None:
        return (STREAMS_TOPIC, author_topic(author))


@register
@dataclass(frozen=True)
class StreamTempo(Message):
    """The tempo the DJ declares for their stream (their MIDI clock), next to what the judge measures.

    ``beat_us`` is when a beat began on the DJ's capture clock (the clock of the frames' ``ts_us``),
    so with the tempo it places every beat of the stream. The newest declaration wins. A separate
    kind, so streams without one (and nodes that do not know it) are unchanged.
    """

    KIND: ClassVar[str] = "stream_tempo"
    FIELDS: ClassVar[frozenset[str]] = frozenset({"stream", "millibpm", "running", "beat_us", "source"})
    SOURCES: ClassVar[tuple[str, ...]] = ("midi_clock", "manual")
    MIN_MILLIBPM: ClassVar[int] = 20_000
    MAX_MILLIBPM: ClassVar[int] = 400_000

    stream: bytes
    millibpm: int  # beats per minute x 1000 (integers keep the signed bytes unambiguous)
    running: bool
    beat_us: int | None = None
    source: str = "midi_clock"

    @property
    def bpm(self) -> float:
        return self.millibpm / 1000

    def to_payload(self) -> dict[str, CborValue]:
        return {
            "stream": self.stream,
            "millibpm": self.millibpm,
            "running": self.running,
            "beat_us": self.beat_us,
            "source": self.source,
        }

    @classmethod
    def from_payload(cls, payload: schema.Payload) -> Self:
        running = payload.get("running")
        if not isinstance(running, bool):
            raise InvalidPayloadError("running: expected true or false")
        beat_us = None
        if payload.get("beat_us") is not None:
            beat_us = schema.integer(payload, "beat_us", minimum=0, maximum=2**63 - 1)
        return cls(
            stream=schema.required_digest(payload, "stream"),
            millibpm=schema.integer(payload, "millibpm", minimum=cls.MIN_MILLIBPM, maximum=cls.MAX_MILLIBPM),
            running=running,
            beat_us=beat_us,
            source=schema.choice(payload, "source", cls.SOURCES),
        )

    def route(self, author: bytes, content_id: bytes) -> tuple[str, ...] | None:
        return (STREAMS_TOPIC, author_topic(author))


@register
@dataclass(frozen=True)
class StreamCue(Message):
    """The DJ marks a track change as it happens: ``at_us`` on the capture clock, the new track's title."""

    KIND: ClassVar[str] = "stream_cue"
    FIELDS: ClassVar[frozenset[str]] = frozenset({"stream", "at_us", "title"})

    stream: bytes
    at_us: int
    title: str = ""

    def to_payload(self) -> dict[str, CborValue]:
        return {"stream": self.stream, "at_us": self.at_us, "title": self.title}

    @classmethod
    def from_payload(cls, payload: schema.Payload) -> Self:
        return cls(
            stream=schema.required_digest(payload, "stream"),
            at_us=schema.integer(payload, "at_us", minimum=0, maximum=2**63 - 1),
            title=schema.text(payload, "title", max_chars=128, default=""),
        )

    def route(self, author: bytes, content_id: bytes) -> tuple[str, ...] | None:
        return (STREAMS_TOPIC, author_topic(author))


# -- frames (datagrams) -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Frame:
    """One encoded Opus frame: ``seq`` counts frames from 0, ``ts_us`` is its capture time."""

    seq: int
    ts_us: int
    payload: bytes

    def encode(self) -> bytes:
        return _FRAME_HEADER.pack(FRAME_TYPE, self.seq, self.ts_us) + self.payload

    @property
    def hash(self) -> bytes:
        return frame_hash(self.seq, self.ts_us, self.payload)


MAX_STORED_FRAME = _FRAME_HEADER.size + MAX_OPUS_PACKET


def opus_packet_bytes(bitrate: int, frame_ms: int, *, vbr: bool) -> int:
    """The biggest Opus packet libopus makes at ``bitrate``: exactly the bitrate's share at a constant bitrate,
    at most twice that plus 2 bytes with VBR (measured with PyAV's libopus on noise, bursts, clicks and chirps:
    1,122 bytes at 224 kbit/s, 1,162 at 232 kbit/s; its ceiling is ``MAX_OPUS_PACKET``)."""
    share = -(-bitrate * frame_ms // 8000)
    return min(MAX_OPUS_PACKET, 2 * share + 2 if vbr else share)


def max_live_bitrate(frame_ms: int) -> int:
    """The highest bitrate (a multiple of 1,000 bit/s) whose constant-bitrate packets fit a frame datagram."""
    fits = MAX_LIVE_OPUS_PACKET * 8000 // frame_ms // 1000 * 1000
    return min(MAX_BITRATE, fits)


MAX_LIVE_BITRATE = max_live_bitrate(20)  # 457,000 bit/s: what a live source takes at its 20 ms default


def live_vbr_fits(bitrate: int, frame_ms: int) -> bool:
    """Whether VBR's biggest packet at ``bitrate`` fits a frame datagram (above that, 228 kbit/s at 20 ms, a
    source encodes at a constant bitrate, which at these rates sounds the same)."""
    return opus_packet_bytes(bitrate, frame_ms, vbr=True) <= MAX_LIVE_OPUS_PACKET


def frame_hash(seq: int, ts_us: int, payload: bytes) -> bytes:
    return hashlib.sha256(_HASH_INPUT.pack(seq, ts_us) + payload).digest()[:FRAME_HASH_BYTES]


def decode_frame(data: bytes, *, max_bytes: int = MAX_FRAME_DATAGRAM) -> Frame:
    """One frame datagram, or ``DecodeError``.

    ``max_bytes`` is what a link carries; a stored set may hold bigger frames (up to ``MAX_OPUS_PACKET``: made
    before the live bound), so it passes ``MAX_STORED_FRAME``.
    """
    if len(data) <= _FRAME_HEADER.size or len(data) > max_bytes:  # no Opus packet is empty
        raise DecodeError(f"frame datagram of {len(data)} bytes")
    kind, seq, ts_us = _FRAME_HEADER.unpack_from(data)
    if kind != FRAME_TYPE:
        raise DecodeError(f"unknown datagram type {kind}")
    return Frame(seq, ts_us, bytes(data[_FRAME_HEADER.size :]))


# -- segment manifests ------------------------------------------------------------------------------


@dataclass(frozen=True)
class SegmentManifest:
    """A signed segment: frames ``first_seq .. first_seq + count - 1`` of ``stream``."""

    stream: bytes
    index: int
    first_seq: int
    first_ts_us: int
    prev: bytes
    hashes: bytes
    signature: bytes
    wire: bytes

    @property
    def digest(self) -> bytes:
        return hashlib.sha256(self.wire).digest()

    @property
    def count(self) -> int:
        return len(self.hashes) // FRAME_HASH_BYTES

    @property
    def end_seq(self) -> int:
        return self.first_seq + self.count

    def hash_of(self, seq: int) -> bytes:
        offset = (seq - self.first_seq) * FRAME_HASH_BYTES
        return self.hashes[offset : offset + FRAME_HASH_BYTES]


def _manifest_body(
    stream: bytes, index: int, first_seq: int, first_ts_us: int, prev: bytes, hashes: bytes
) -> dict[cbor.CborKey, CborValue]:
    return {"s": stream, "i": index, "q": first_seq, "t": first_ts_us, "p": prev, "h": hashes}


def sign_segment(
    key: nacl.signing.SigningKey, stream: bytes, index: int, prev: bytes, frames: Iterable[Frame]
) -> SegmentManifest:
    frames = list(frames)
    if not frames or len(frames) > MAX_SEGMENT_FRAMES:
        raise ValueError(f"a segment holds 1..{MAX_SEGMENT_FRAMES} frames")
    if any(b.seq != a.seq + 1 for a, b in itertools.pairwise(frames)):
        raise ValueError("segment frames must have consecutive sequence numbers")
    hashes = b"".join(frame.hash for frame in frames)
    body = _manifest_body(stream, index, frames[0].seq, frames[0].ts_us, prev, hashes)
    signature = key.sign(SEGMENT_CONTEXT + cbor.encode(body)).signature
    wire = cbor.encode({**body, "g": signature})
    return SegmentManifest(stream, index, frames[0].seq, frames[0].ts_us, prev, hashes, signature, wire)


def decode_manifest(data: bytes, public_key: bytes) -> SegmentManifest:
    """Decode and verify a manifest signed by ``public_key``, or raise a ``ProtocolError``."""
    if len(data) > MAX_MANIFEST_BYTES:
        raise MalformedMessageError(f"manifest of {len(data)} bytes")
    value = cbor.decode(bytes(data))
    if not isinstance(value, dict) or set(value) != {"s", "i", "q", "t", "p", "h", "g"}:
        raise MalformedMessageError("manifest must be a map with keys s i q t p h g")
    stream, index, first_seq, ts, prev, hashes, signature = (
        value[k] for k in ("s", "i", "q", "t", "p", "h", "g")
    )
    if not (isinstance(stream, bytes) and len(stream) == 32 and isinstance(prev, bytes) and len(prev) == 32):
        raise MalformedMessageError("manifest stream and prev must be 32 bytes")
    for name, number in (("index", index), ("first_seq", first_seq), ("ts", ts)):
        if not isinstance(number, int) or isinstance(number, bool) or not 0 <= number < 2**63:
            raise MalformedMessageError(f"manifest {name} must be a non-negative integer")
    if not isinstance(hashes, bytes) or not hashes or len(hashes) % FRAME_HASH_BYTES:
        raise MalformedMessageError("manifest hashes must be a non-empty multiple of 16 bytes")
    if not isinstance(signature, bytes) or len(signature) != 64:
        raise MalformedMessageError("manifest signature must be 64 bytes")
    assert isinstance(index, int) and isinstance(first_seq, int) and isinstance(ts, int)
    body = _manifest_body(stream, index, first_seq, ts, prev, hashes)
    try:
        nacl.signing.VerifyKey(public_key).verify(SEGMENT_CONTEXT + cbor.encode(body), signature)
    except (nacl.exceptions.CryptoError, ValueError, TypeError) as exc:
        raise BadSignatureError("segment signature does not verify against the DJ's key") from exc
    return SegmentManifest(stream, index, first_seq, ts, prev, hashes, signature, bytes(data))


class SegmentSigner:
    """The DJ side: collects frames and signs a manifest every ``segment_frames`` frames."""

    def __init__(self, key: nacl.signing.SigningKey, stream: bytes, segment_frames: int = 50) -> None:
        self._key = key
        self.stream = stream
        self.segment_frames = segment_frames
        self.head = stream  # the chain starts at the announcement
        self.index = 0
        self.frames = 0
        self._pending: list[Frame] = []

    def add(self, frame: Frame) -> SegmentManifest | None:
        self._pending.append(frame)
        self.frames += 1
        return self.flush() if len(self._pending) >= self.segment_frames else None

    def flush(self) -> SegmentManifest | None:
        """Sign whatever is pending (the last, short segment of a stream)."""
        if not self._pending:
            return None
        manifest = sign_segment(self._key, self.stream, self.index, self.head, self._pending)
        self._pending = []
        self.head = manifest.digest
        self.index += 1
        return manifest


# -- verification -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class VerifiedSegment:
    """A segment whose signature and chain check out; ``frames`` has None where a frame was lost."""

    manifest: SegmentManifest
    frames: tuple[Frame | None, ...]


@dataclass(frozen=True)
class Dropped:
    reason: str  # forged | tampered | reordered | replayed | foreign | malformed | chain | unverified
    detail: str
    count: int = 1


VerifierEvent = VerifiedSegment | Dropped
MAX_CANDIDATES_PER_SEQ = 3


class StreamVerifier:
    """Checks frames against the DJ's signed manifests; counts every drop by reason.

    Frames are held (bounded) until their manifest arrives. The first manifest may be any
    segment (a late joiner starts mid-stream); after it, manifests must follow the chain.
    """

    def __init__(self, public_key: bytes, stream: bytes, *, segment_frames: int = 50) -> None:
        self.public_key = public_key
        self.stream = stream
        self.max_pending = 4 * max(segment_frames, 1) * MAX_CANDIDATES_PER_SEQ
        self.last: SegmentManifest | None = None
        self.counts: dict[str, int] = {}
        self.lost_frames = 0
        self.verified_frames = 0
        self._seen_digests: deque[bytes] = deque(maxlen=64)
        self._pending: dict[int, list[Frame]] = {}
        self._pending_size = 0

    @property
    def verified_upto(self) -> int:
        """Frames below this sequence number are settled (verified, dropped or lost)."""
        return self.last.end_seq if self.last is not None else 0

    def _drop(self, reason: str, detail: str, count: int = 1) -> Dropped:
        self.counts[reason] = self.counts.get(reason, 0) + count
        return Dropped(reason, detail, count)

    def add_frame(self, frame: Frame) -> Dropped | None:
        if self.last is not None and frame.seq < self.last.end_seq:
            return self._drop("replayed", f"frame {frame.seq} is before the verified point")
        candidates = self._pending.setdefault(frame.seq, [])
        if frame in candidates:
            return None
        if len(candidates) >= MAX_CANDIDATES_PER_SEQ:
            return self._drop("tampered", f"too many different frames claim seq {frame.seq}")
        candidates.append(frame)
        self._pending_size += 1
        if self._pending_size > self.max_pending:
            oldest = min(self._pending)
            evicted = self._pending.pop(oldest)
            self._pending_size -= len(evicted)
            return self._drop("unverified", f"frame {oldest} waited too long for its segment", len(evicted))
        return None

    def discard_pending(self, from_seq: int = 0, upto: int | None = None) -> int:
        """Forget the frames from ``from_seq`` to ``upto`` (default: all) still waiting for their manifest.

        They came from a parent caught lying, or one that says its own parent lied (``relay.Disown``).
        """
        gone = [seq for seq in self._pending if seq >= from_seq and (upto is None or seq < upto)]
        count = 0
        for seq in gone:
            count += len(self._pending.pop(seq))
        self._pending_size -= count
        return count

    def add_manifest(self, data: bytes) -> VerifierEvent:
        checked = self.check(data)
        return checked if isinstance(checked, Dropped) else self.accept(checked)

    def check(self, data: bytes) -> SegmentManifest | Dropped:
        """Decode and verify a manifest's signature without applying it (the caller may wait for frames)."""
        try:
            return decode_manifest(data, self.public_key)
        except BadSignatureError as exc:
            return self._drop("forged", str(exc))
        except ProtocolError as exc:
            return self._drop("malformed", str(exc))

    def missing(self, manifest: SegmentManifest) -> list[int]:
        """Sequence numbers the manifest signs for which no matching frame is held yet."""
        return [
            seq
            for seq in range(max(manifest.first_seq, self.verified_upto), manifest.end_seq)
            if not any(c.hash == manifest.hash_of(seq) for c in self._pending.get(seq, ()))
        ]

    def tampered(self, manifest: SegmentManifest) -> int:
        """Frames held for the manifest's segment that it does not sign: what ``accept`` would count as tampered.

        Asked before ``accept``, so a caller can refuse a parent's forgery without settling the segment, and
        fetch its genuine frames elsewhere.
        """
        return sum(
            1
            for seq in range(max(manifest.first_seq, self.verified_upto), manifest.end_seq)
            for candidate in self._pending.get(seq, ())
            if candidate.hash != manifest.hash_of(seq)
        )

    def accept(self, manifest: SegmentManifest) -> VerifierEvent:
        """Apply a manifest whose signature is already verified."""
        if manifest.stream != self.stream:
            return self._drop("foreign", "manifest of another stream")
        last = self.last
        if manifest.digest in self._seen_digests:
            return self._drop("replayed", f"segment {manifest.index} again")
        if last is not None:
            if manifest.index <= last.index or manifest.first_seq < last.end_seq:
                return self._drop("reordered", f"segment {manifest.index} after {last.index}")
            if manifest.index == last.index + 1 and (
                manifest.prev != last.digest or manifest.first_seq != last.end_seq
            ):
                return self._drop("chain", f"segment {manifest.index} does not extend the chain")
        elif manifest.index == 0 and manifest.prev != self.stream:
            return self._drop("chain", "first segment does not start at the announcement")
        self.last = manifest
        self._seen_digests.append(manifest.digest)
        frames: list[Frame | None] = []
        tampered = 0
        for seq in range(manifest.first_seq, manifest.end_seq):
            expected = manifest.hash_of(seq)
            match = None
            for candidate in self._pending.get(seq, ()):
                if candidate.hash == expected:
                    match = candidate
                else:
                    tampered += 1
            frames.append(match)
        skipped = 0
        for seq in [s for s in self._pending if s < manifest.end_seq]:
            held = self._pending.pop(seq)
            self._pending_size -= len(held)
            if seq < manifest.first_seq:
                skipped += len(held)
        if skipped:
            self._drop(
                "unverified",
                f"{skipped} frame(s) before segment {manifest.index} never got a manifest",
                skipped,
            )
        if tampered:
            self._drop("tampered", f"{tampered} frame(s) of segment {manifest.index} do not match", tampered)
        lost = sum(1 for f in frames if f is None)
        self.lost_frames += lost
        self.verified_frames += len(frames) - lost
        return VerifiedSegment(manifest, tuple(frames))

    @property
    def dropped_total(self) -> int:
        return sum(self.counts.values())


def verify_set(announce_author: bytes, stream: bytes, manifests: Iterable[bytes]) -> list[SegmentManifest]:
    """A whole stored set: every manifest verifies and the chain is complete from the announcement."""
    out: list[SegmentManifest] = []
    head, seq = stream, None
    for index, data in enumerate(manifests):
        manifest = decode_manifest(data, announce_author)
        if manifest.stream != stream or manifest.index != index or manifest.prev != head:
            raise MalformedMessageError(f"segment {index} breaks the chain")
        if seq is not None and manifest.first_seq != seq:
            raise MalformedMessageError(f"segment {index} does not continue the frame numbering")
        head, seq = manifest.digest, manifest.end_seq
        out.append(manifest)
    return out


# -- jitter buffer ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Playout:
    """A frame due now; ``payload`` None means it never came in time (conceal it)."""

    seq: int
    ts_us: int
    payload: bytes | None
    due_us: int


@dataclass
class JitterStats:
    played: int = 0
    concealed: int = 0
    late: int = 0
    duplicate: int = 0
    skipped: int = 0
    target_us: int = 0


@dataclass
class JitterBuffer:
    """Adaptive playout delay: just above the recent 95th percentile of transit-time variation.

    Transit is ``arrival - capture`` (the offset between clocks cancels out: only its variation
    matters). The delay rises at once when jitter grows and decays slowly, so a quiet link
    plays a few ms behind arrival instead of a fixed 80 ms.
    """

    frame_us: int = 20_000
    min_delay_us: int = 4_000
    max_delay_us: int = 400_000
    margin_us: int = 2_000
    window: int = 200
    max_gap_frames: int = 25  # more missing frames in a row than this are skipped, not concealed
    max_ahead_frames: int = 250  # a frame further ahead of playout is a jump even if those before it are here
    stats: JitterStats = field(default_factory=JitterStats)
    _transits: deque[int] = field(default_factory=deque)
    _sorted: list[int] = field(default_factory=list)
    _buffer: dict[int, tuple[int, bytes]] = field(default_factory=dict)
    _next_seq: int | None = None
    _last_ts: int = 0
    _target_us: int = 0
    _base_hint: int | None = None  # the fastest transit before a reset, until the new path's is measured

    def push(self, seq: int, ts_us: int, payload: bytes, now_us: int, *, measure: bool = True) -> bool:
        """Add an arrived frame; False if it is late (already played or concealed) or a duplicate.

        ``measure=False`` for frames fetched again after a loss: their transit says nothing about
        the path's jitter and must not inflate the delay.
        """
        if measure or (not self._sorted and self._base_hint is None):
            self.observe(ts_us, now_us)
        if self._next_seq is None or self._missing_before(seq) > self.max_gap_frames:
            if self._next_seq is not None:
                self.stats.skipped += seq - self._next_seq
            self._buffer = {s: v for s, v in self._buffer.items() if s >= seq}
            self._next_seq = seq
            self._last_ts = ts_us - self.frame_us
        if seq < self._next_seq:
            self.stats.late += 1
            return False
        if seq in self._buffer:
            self.stats.duplicate += 1
            return False
        self._buffer[seq] = (ts_us, payload)
        return True

    def _missing_before(self, seq: int) -> int:
        """The frames ``seq`` leaves missing before it (over ``max_gap_frames``: a jump, not concealed).

        Counted from the highest frame buffered below it, else from the next to play; not always from the next to
        play: a batch pushed at once, ahead of any pop (a catch-up after a move of half a second or more), then
        passed for a jump at its 26th frame, and the 25 frames just buffered were thrown away (bench/hostile.py's
        "26 frames skipped at once"). Beyond ``max_ahead_frames`` it is a jump whatever is buffered.
        """
        assert self._next_seq is not None
        ahead = seq - self._next_seq
        if ahead <= self.max_gap_frames:
            return ahead
        if ahead > max(self.max_gap_frames, self.max_ahead_frames):
            return ahead  # a jump whatever is buffered: the buffer stays bounded
        return seq - max((s for s in self._buffer if s < seq), default=self._next_seq - 1) - 1

    def observe(self, ts_us: int, now_us: int) -> None:
        """Measure a frame's transit without buffering it (it is pushed later, e.g. once verified)."""
        transit = now_us - ts_us
        self._transits.append(transit)
        bisect.insort(self._sorted, transit)
        if len(self._transits) > self.window:
            old = self._transits.popleft()
            del self._sorted[bisect.bisect_left(self._sorted, old)]
        self._adapt()

    def _adapt(self) -> None:
        base = self._sorted[0]
        p95 = self._sorted[min(len(self._sorted) - 1, (len(self._sorted) * 95) // 100)]
        wanted = min(self.max_delay_us, max(self.min_delay_us, p95 - base + self.margin_us))
        if wanted >= self._target_us:
            self._target_us = wanted
        else:  # decay by at most 1/64 per frame, so playout never jumps ahead
            self._target_us -= max(1, (self._target_us - wanted) // 64)
        self.stats.target_us = self._target_us

    @property
    def delay_us(self) -> int:
        return self._target_us

    def _due(self, ts_us: int) -> int:
        base = self._sorted[0] if self._sorted else self._base_hint or 0
        return ts_us + base + self._target_us

    def next_due_us(self) -> int | None:
        """When ``pop`` will next have something (None: nothing buffered)."""
        if self._next_seq is None or not self._buffer:
            return None
        entry = self._buffer.get(self._next_seq)
        return self._due(entry[0] if entry else self._last_ts + self.frame_us)

    def pop(self, now_us: int) -> list[Playout]:
        out: list[Playout] = []
        while self._next_seq is not None and self._buffer:
            seq = self._next_seq
            entry = self._buffer.get(seq)
            ts = entry[0] if entry else self._last_ts + self.frame_us
            due = self._due(ts)
            if due > now_us:
                break
            if entry is None:
                self.stats.concealed += 1
                out.append(Playout(seq, ts, None, due))
            else:
                del self._buffer[seq]
                self.stats.played += 1
                out.append(Playout(seq, ts, entry[1], due))
            self._last_ts = ts
            self._next_seq = seq + 1
        return out

    def discard(self, from_seq: int, upto: int | None = None) -> int:
        """Drop the buffered frames from ``from_seq`` (to ``upto``, exclusive): their sender lied. Their places
        stay open, so genuine copies that come in time still play (else they are concealed); the count dropped."""
        doomed = [s for s in self._buffer if s >= from_seq and (upto is None or s < upto)]
        for seq in doomed:
            del self._buffer[seq]
        return len(doomed)

    def reset(self) -> None:
        """Forget the transits measured (after changing parent: a new path has a new transit time).

        Playout keeps its schedule until the new path's first frame is measured, and its delay decays from
        where it was: what is buffered (a verified segment and more) must not all fall due at once.
        """
        if self._sorted:
            self._base_hint = self._sorted[0]
        self._transits.clear()
        self._sorted.clear()


# -- control stream messages ------------------------------------------------------------------------

MAX_CONTROL_BYTES = 64 * 1024
_LENGTH = struct.Struct(">I")


def encode_control(message: dict[str, CborValue]) -> bytes:
    """One control message (a CBOR map with an ``op``), length-prefixed for a byte stream."""
    body = cbor.encode(dict(message.items()))
    if len(body) > MAX_CONTROL_BYTES:
        raise MessageTooLargeError(f"control message of {len(body)} bytes")
    return _LENGTH.pack(len(body)) + body


class ControlReader:
    """Splits a control byte stream into messages; a malformed one raises (close the link)."""

    def __init__(self) -> None:
        self._buffer = bytearray()

    def feed(self, data: bytes) -> list[dict[str, CborValue]]:
        self._buffer += data
        out: list[dict[str, CborValue]] = []
        while len(self._buffer) >= _LENGTH.size:
            (size,) = _LENGTH.unpack_from(self._buffer)
            if size > MAX_CONTROL_BYTES:
                raise MessageTooLargeError(f"control message of {size} bytes")
            if len(self._buffer) < _LENGTH.size + size:
                break
            body = bytes(self._buffer[_LENGTH.size : _LENGTH.size + size])
            del self._buffer[: _LENGTH.size + size]
            value = cbor.decode(body)
            if not isinstance(value, dict) or not isinstance(value.get("op"), str):
                raise MalformedMessageError("control message must be a map with a text op")
            out.append({str(k): v for k, v in value.items()})
        return out
