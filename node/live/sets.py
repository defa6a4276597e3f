"""Stored sets: a stream's signed record on disk, fetched from peers and replayed verified.

A set file is a sequence of length-prefixed CBOR records: ``{"announce": envelope}``, then one
``{"m": manifest, "f": [frame datagram or null, ...]}`` per segment, then ``{"end": envelope}``.
It is content-addressed by the stream ID (the announcement's content ID) and the head of its
manifest chain; a reader checks every signature, the chain and every frame hash.
"""

from __future__ import annotations

import contextlib
import logging
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from djmesh.protocol import cbor
from djmesh.protocol.cbor import CborValue
from djmesh.protocol.envelope import SignedEnvelope, decode_envelope
from djmesh.protocol.errors import DecodeError, MalformedMessageError, ProtocolError
from djmesh.protocol.stream import (
    MAX_STORED_FRAME,
    Frame,
    SegmentManifest,
    StreamAnnounce,
    StreamEnd,
    decode_frame,
    decode_manifest,
)

log = logging.getLogger(__name__)
_LENGTH = struct.Struct(">I")
MAX_RECORD_BYTES = 1024 * 1024


@dataclass(frozen=True)
class SetSegment:
    manifest: SegmentManifest
    frames: tuple[Frame | None, ...]

    def record(self) -> dict[cbor.CborKey, CborValue]:
        return {"m": self.manifest.wire, "f": [f.encode() if f is not None else None for f in self.frames]}


@dataclass(frozen=True)
class StoredSet:
    announce: SignedEnvelope
    segments: tuple[SetSegment, ...]
    end: SignedEnvelope | None

    @property
    def stream(self) -> bytes:
        return self.announce.content_id

    @property
    def head(self) -> bytes:
        return self.segments[-1].manifest.digest if self.segments else self.stream

    @property
    def missing_frames(self) -> int:
        return sum(1 for s in self.segments for f in s.frames if f is None)

    @property
    def complete(self) -> bool:
        """Every frame present and the chain ends where the DJ's ``stream_end`` says it does."""
        if self.end is None or not isinstance(self.end.message, StreamEnd):
            return False
        return self.end.message.head == self.head and self.missing_frames == 0

    def frames(self) -> Iterator[Frame | None]:
        for segment in self.segments:
            yield from segment.frames


def check_record(announce: SignedEnvelope, record: CborValue) -> SetSegment:
    """One ``{"m", "f"}`` record on its own: a manifest the DJ signed for this stream, frames matching its hashes."""
    if not isinstance(record, dict) or set(record) != {"m", "f"}:
        raise MalformedMessageError("a set segment is a map with keys m and f")
    wire, frame_values = record["m"], record["f"]
    if not isinstance(wire, bytes) or not isinstance(frame_values, list):
        raise MalformedMessageError("set segment: m must be bytes, f a list")
    manifest = decode_manifest(wire, announce.author)
    if manifest.stream != announce.content_id:
        raise MalformedMessageError(f"set segment {manifest.index} is of another stream")
    if len(frame_values) != manifest.count:
        raise MalformedMessageError(
            f"set segment {manifest.index} has {len(frame_values)} frames, signed {manifest.count}"
        )
    frames: list[Frame | None] = []
    for offset, value in enumerate(frame_values):
        if value is None:
            frames.append(None)
            continue
        if not isinstance(value, bytes):
            raise MalformedMessageError("set frame must be bytes or null")
        frame = decode_frame(value, max_bytes=MAX_STORED_FRAME)  # sets kept before the live bound too
        seq = manifest.first_seq + offset
        if frame.seq != seq or frame.hash != manifest.hash_of(seq):
            raise MalformedMessageError(f"set frame {seq} does not match its signed hash")
        frames.append(frame)
    return SetSegment(manifest, tuple(frames))


def check_segment(announce: SignedEnvelope, prev: bytes, index: int, record: CborValue) -> SetSegment:
    """One ``{"m", "f"}`` record: a manifest continuing the chain and frames matching its hashes."""
    segment = check_record(announce, record)
    if segment.manifest.index != index or segment.manifest.prev != prev:
        raise MalformedMessageError(f"set segment {index} breaks the chain")
    return segment


def decode_announce(wire: bytes) -> SignedEnvelope:
    envelope = decode_envelope(wire, now_ms=None)
    if not isinstance(envelope.message, StreamAnnounce):
        raise MalformedMessageError("not a stream announcement")
    return envelope


def decode_end(wire: bytes, announce: SignedEnvelope) -> SignedEnvelope:
    envelope = decode_envelope(wire, now_ms=None)
    message = envelope.message
    if (
        not isinstance(message, StreamEnd)
        or message.stream != announce.content_id
        or envelope.author != announce.author
    ):
        raise MalformedMessageError("not the stream_end of this stream")
    return envelope


class SetWriter:
    """Appends a stream's verified record to its set file as it arrives."""

    def __init__(self, path: Path, announce: SignedEnvelope) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.announce = announce
        self.head = announce.content_id
        self.next_index = 0
        self._file: BinaryIO | None = path.open("wb")
        self._write({"announce": announce.wire})

    def _write(self, record: dict[cbor.CborKey, CborValue]) -> None:
        if self._file is None:
            return
        self._file.write(record_bytes(record))
        self._file.flush()

    def add(self, segment: SetSegment) -> bool:
        """Append ``segment`` if it continues the chain (a set with a hole is not written past it)."""
        manifest = segment.manifest
        if manifest.index != self.next_index or manifest.prev != self.head:
            return False
        self._write(segment.record())
        self.head = manifest.digest
        self.next_index += 1
        return True

    def finish(self, end: SignedEnvelope | None) -> None:
        if end is not None:
            self._write({"end": end.wire})
        if self._file is not None:
            self._file.close()
            self._file = None


def record_bytes(record: dict[cbor.CborKey, CborValue]) -> bytes:
    """One record as stored: its length, then its CBOR (one write, so a reader sees all of it or none)."""
    body = cbor.encode(dict(record.items()))
    return _LENGTH.pack(len(body)) + body


def records(handle: BinaryIO) -> Iterator[CborValue]:
    while True:
        head = handle.read(_LENGTH.size)
        if not head:
            return
        if len(head) < _LENGTH.size:
            raise DecodeError("truncated set file")
        (size,) = _LENGTH.unpack(head)
        if size > MAX_RECORD_BYTES:
            raise DecodeError(f"set record of {size} bytes")
        body = handle.read(size)
        if len(body) < size:
            raise DecodeError("truncated set file")
        yield cbor.decode(body)


def read_announce_record(entries: Iterator[CborValue], what: str) -> SignedEnvelope:
    """The verified announcement that a set file or a recording (``what``) starts with."""
    first = next(entries, None)
    wire = first.get("announce") if isinstance(first, dict) else None
    if not isinstance(wire, bytes):
        raise MalformedMessageError(f"{what} starts with the announcement")
    return decode_announce(wire)


def read_set(path: Path) -> StoredSet:
    """Load and fully verify a set file; ``ProtocolError`` if anything does not check out."""
    with path.open("rb") as handle:
        entries = records(handle)
        announce = read_announce_record(entries, "a set file")
        segments: list[SetSegment] = []
        end: SignedEnvelope | None = None
        prev = announce.content_id
        for record in entries:
            if isinstance(record, dict) and "end" in record:
                end_wire = record["end"]
                if not isinstance(end_wire, bytes):
                    raise MalformedMessageError("end must be an envelope")
                end = decode_end(end_wire, announce)
                break
            segment = check_segment(announce, prev, len(segments), record)
            segments.append(segment)
            prev = segment.manifest.digest
    return StoredSet(announce, tuple(segments), end)


class SetLibrary:
    """The sets this node keeps, under ``<home>/live/sets/<stream id hex>.djset``."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def path(self, stream: bytes) -> Path:
        return self.root / f"{stream.hex()}.djset"

    def has(self, stream: bytes) -> bool:
        return self.path(stream).exists()

    def load(self, stream: bytes) -> StoredSet | None:
        path = self.path(stream)
        if not path.exists():
            return None
        try:
            return read_set(path)
        except (ProtocolError, OSError) as exc:
            log.warning("stored set %s is unusable: %s", path.name, exc)
            return None

    def writer(self, announce: SignedEnvelope) -> SetWriter:
        return SetWriter(self.path(announce.content_id), announce)

    def recording_path(self, stream: bytes) -> Path:
        """Where a listener keeps the segments it verified until they make up the set (``recording.py``)."""
        return self.root / f"{stream.hex()}.djset.part"

    def discard(self, stream: bytes) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.path(stream).unlink()
