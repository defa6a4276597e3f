"""A stream's verified segments kept as they arrive, gaps and all, until they make up the whole set.

A listener that joins after the first segment, or loses frames on the way, still keeps every
segment it verified, in arrival order, in ``<id>.djset.part`` beside the set file. What it lacks
(``missing``) is fetched from peers into the same recording; ``assemble`` then walks the chain
back from the head the DJ signed in ``stream_end``, so the set written is exactly the DJ's, the
same bytes on every honest node whatever each one received live. A set with a hole is never
assembled. Until then the whole segments it holds are served to peers that lack them (``spans``,
``read_records``), so the end of a set is not fetched from the DJ alone.
"""

from __future__ import annotations

import contextlib
import io
import logging
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

from djmesh.node.live.sets import (
    SetSegment,
    StoredSet,
    check_record,
    read_announce_record,
    record_bytes,
    records,
)
from djmesh.protocol.cbor import CborValue
from djmesh.protocol.envelope import SignedEnvelope
from djmesh.protocol.errors import DecodeError, MalformedMessageError, ProtocolError
from djmesh.protocol.stream import StreamAnnounce, StreamEnd

log = logging.getLogger(__name__)


class IncompleteSetError(MalformedMessageError):
    """The recording lacks segments (or frames) of the chain the DJ signed."""


class SetRecording:
    """Appends verified segments (any index, any order) to a part file and tracks which are whole."""

    def __init__(
        self,
        path: Path,
        announce: SignedEnvelope,
        *,
        on_whole: Callable[[SetSegment], None] | None = None,
    ) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.announce = announce
        self.stream = announce.content_id
        self.on_whole = on_whole  # told of each whole segment once (e.g. to decode it while live)
        self._whole: dict[int, bytes] = {}  # index -> digest of a whole copy held
        self._spans: dict[int, tuple[int, int]] = {}  # index -> (offset, length) of that copy's record
        self._digests: set[bytes] = set()
        self.highest: int | None = None
        self._file: BinaryIO | None = path.open("wb")
        head = record_bytes({"announce": announce.wire})
        self._file.write(head)
        self._file.flush()
        self._size = len(head)

    @property
    def served_by_dj_only(self) -> bool:
        """A priced stream (or anything but a plain stream announcement) is served by its DJ only, who
        checks who paid: a listener neither serves its recording nor fills it from other listeners."""
        info = self.announce.message
        return not isinstance(info, StreamAnnounce) or info.price is not None

    @property
    def closed(self) -> bool:
        return self._file is None

    def add(self, segment: SetSegment) -> bool:
        """Keep ``segment`` (already verified against the DJ's key); False if closed or already held whole."""
        manifest = segment.manifest
        whole = all(frame is not None for frame in segment.frames)
        if self._file is None or manifest.stream != self.stream or manifest.digest in self._digests:
            return False
        data = record_bytes(segment.record())
        self._file.write(data)
        self._file.flush()
        offset, self._size = self._size, self._size + len(data)
        self.highest = manifest.index if self.highest is None else max(self.highest, manifest.index)
        if whole:
            self._digests.add(manifest.digest)
            if manifest.index not in self._whole:
                self._whole[manifest.index] = manifest.digest
                self._spans[manifest.index] = (offset, len(data))
            if self.on_whole is not None:
                self.on_whole(segment)
        return True

    def missing(self, total: int | None = None) -> list[int]:
        """Indices below ``total`` (default: up to the highest one held) with no whole copy here."""
        upto = total if total is not None else (self.highest if self.highest is not None else -1)
        return [index for index in range(upto) if index not in self._whole]

    def spans(self, start: int, limit: int) -> list[tuple[int, int]]:
        """Where the whole segments held at indices ``start``.. ``start + limit - 1`` are in the part file
        (ascending, holes skipped): what ``read_records`` serves a peer that lacks them."""
        return [self._spans[i] for i in range(start, start + limit) if i in self._spans]

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    def discard(self) -> None:
        self.close()
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()


def read_records(path: Path, spans: list[tuple[int, int]]) -> list[CborValue]:
    """The segment records at ``spans`` of a recording (from ``SetRecording.spans``; blocking: run it in a
    thread); none if the recording is gone meanwhile. They were verified when recorded; the fetcher
    verifies them again."""
    out: list[CborValue] = []
    try:
        with path.open("rb") as handle:
            for offset, length in spans:
                handle.seek(offset)
                out.extend(records(io.BytesIO(handle.read(length))))
    except (OSError, DecodeError) as exc:
        log.info("recording %s not served: %s", path.name, exc)
        return []
    return out


def assemble(path: Path, end: SignedEnvelope) -> StoredSet:
    """The whole set a recording holds, verified again, ending where ``end`` says; ``IncompleteSetError`` if not."""
    message = end.message
    if not isinstance(message, StreamEnd):
        raise MalformedMessageError("not a stream_end")
    by_digest: dict[bytes, SetSegment] = {}
    with path.open("rb") as handle:
        stream = records(handle)
        announce = read_announce_record(stream, "a recording")
        if announce.content_id != message.stream or announce.author != end.author:
            raise MalformedMessageError("the end is not this stream's")
        try:
            for record in stream:
                segment = check_record(announce, record)
                if all(frame is not None for frame in segment.frames):
                    by_digest.setdefault(segment.manifest.digest, segment)
        except DecodeError as exc:  # a write cut short (a crash): what came before still counts
            log.info("recording %s ends in a partial record: %s", path.name, exc)
    chain: list[SetSegment] = []
    head = message.head
    while head != announce.content_id:
        link = by_digest.get(head)
        if link is None or len(chain) >= message.segments:
            raise IncompleteSetError(f"segment {message.segments - len(chain) - 1} is missing")
        chain.append(link)
        head = link.manifest.prev
    chain.reverse()
    if len(chain) != message.segments or any(s.manifest.index != i for i, s in enumerate(chain)):
        raise IncompleteSetError("the chain does not match the stream_end")
    stored = StoredSet(announce, tuple(chain), end)
    if not stored.complete:
        raise IncompleteSetError("the assembled set is not complete")
    return stored


def try_assemble(path: Path, end: SignedEnvelope) -> StoredSet | None:
    """``assemble``, or None with the reason logged when the recording cannot make the whole set."""
    try:
        return assemble(path, end)
    except (ProtocolError, OSError) as exc:
        log.info("recording %s not assembled: %s", path.name, exc)
        return None
