"""Set sharing: fetch a finished stream's signed set from a peer page by page, store it, replay it.

Every page is checked as it arrives (signatures, chain, frame hashes), so a peer that serves a
doctored set is caught at the first bad segment and the next peer is asked.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Awaitable, Callable

import numpy as np

from djmesh.node.live.codec import PCM, OpusDecoder
from djmesh.node.live.errors import LiveError
from djmesh.node.live.recorder import Recorder
from djmesh.node.live.recording import SetRecording, read_records
from djmesh.node.live.session import SET_PAGE_SEGMENTS, Request
from djmesh.node.live.sets import (
    SetLibrary,
    SetSegment,
    SetWriter,
    StoredSet,
    check_record,
    check_segment,
    decode_announce,
    decode_end,
)
from djmesh.protocol.cbor import CborValue
from djmesh.protocol.envelope import SignedEnvelope
from djmesh.protocol.errors import MalformedMessageError
from djmesh.protocol.stream import StreamAnnounce

Ask = Callable[[str, Request], Awaitable[dict[str, CborValue] | None]]


async def fetch_from(ask: Ask, peer: str, stream: bytes) -> StoredSet:
    """The set of ``stream`` as ``peer`` holds it, verified; ``LiveError``/``ProtocolError`` if not."""
    segments: list[SetSegment] = []
    announce: SignedEnvelope | None = None
    end: SignedEnvelope | None = None
    while True:
        reply = await ask(peer, Request("set", stream, len(segments)))
        if reply is None:
            raise LiveError("no answer")
        if reply.get("error"):
            raise LiveError(str(reply.get("error")))
        if announce is None:
            announce_wire = reply.get("announce")
            if not isinstance(announce_wire, bytes):
                raise LiveError("no announcement in reply")
            announce = decode_announce(announce_wire)
            if announce.content_id != stream:
                raise LiveError("peer sent the set of another stream")
        records = reply.get("segments")
        if not isinstance(records, list):
            raise LiveError("malformed set page")
        for record in records:
            prev = segments[-1].manifest.digest if segments else stream
            segments.append(check_segment(announce, prev, len(segments), record))
        end_wire = reply.get("end")
        if isinstance(end_wire, bytes):
            end = decode_end(end_wire, announce)
        if not reply.get("more") or not records:
            return StoredSet(announce, tuple(segments), end)


async def fetch_segments(
    ask: Ask, peer: str, announce: SignedEnvelope, indices: list[int], keep: Callable[[SetSegment], object]
) -> None:
    """Ask ``peer`` for the segments at ``indices`` it holds (a stored set or its own recording, holes and
    all); ``keep`` each one as soon as it verifies on its own (the DJ's signature, the frame hashes). The
    chain is checked when the set is assembled, so what a lying peer sends can only fail to fit.
    ``LiveError``/``ProtocolError`` at the first bad answer (or if the peer holds nothing of the stream)."""
    stream = announce.content_id
    for start, stop in _runs(sorted(set(indices))):
        for index in range(start, stop, SET_PAGE_SEGMENTS):
            limit = min(stop - index, SET_PAGE_SEGMENTS)
            reply = await ask(peer, Request("segments", stream, index, limit))
            if reply is None:
                raise LiveError("no answer")
            if reply.get("error"):
                raise LiveError(str(reply.get("error")))
            records = reply.get("segments")
            if not isinstance(records, list):
                raise MalformedMessageError("malformed segments page")
            last = index - 1
            for record in records[:limit]:
                segment = check_record(announce, record)
                at = segment.manifest.index
                if not last < at < index + limit:
                    raise MalformedMessageError(
                        f"asked for segments {index}..{index + limit - 1} in order, got {at} after {last}"
                    )
                keep(segment)
                last = at


async def held_segments(
    stored: StoredSet | None, recording: SetRecording | None, start: int, limit: int
) -> list[CborValue] | None:
    """A ``segments`` answer: the whole segments with an index in ``start``..``start + limit - 1`` that our
    set holds, else that our recording of the stream holds (a listener's, holes skipped), ascending;
    None if we hold neither. A listener never serves a priced stream's recording: only its DJ does, who
    checks who paid (docs/PROTOCOL.md, *Relays*)."""
    if stored is not None:
        return [segment.record() for segment in stored.segments[start : start + limit]]
    if recording is None or recording.served_by_dj_only:
        return None
    spans = recording.spans(start, limit)
    return await asyncio.to_thread(read_records, recording.path, spans) if spans else []


def _runs(indices: list[int]) -> list[tuple[int, int]]:
    """Sorted indices as [start, stop) runs of consecutive ones."""
    runs: list[tuple[int, int]] = []
    for index in indices:
        if runs and runs[-1][1] == index:
            runs[-1] = (runs[-1][0], index + 1)
        else:
            runs.append((index, index + 1))
    return runs


def store_set(library: SetLibrary, stored: StoredSet) -> None:
    """Write a fetched set beside the old one, then swap it in (readers never see half a file)."""
    final = library.path(stored.stream)
    temporary = final.with_name(f"{final.name}.{os.urandom(4).hex()}.tmp")
    writer = SetWriter(temporary, stored.announce)
    for segment in stored.segments:
        writer.add(segment)
    writer.finish(stored.end)
    os.replace(temporary, final)


async def replay_pcm(stored: StoredSet) -> AsyncIterator[PCM]:
    """Verified PCM per segment (silence where a frame is missing), as fast as it decodes."""
    info = stored.announce.message
    assert isinstance(info, StreamAnnounce)
    decoder = OpusDecoder(channels=info.channels, frame_ms=info.frame_ms)
    for segment in stored.segments:
        yield np.concatenate([decoder.decode(f.payload if f is not None else None) for f in segment.frames])
        await asyncio.sleep(0)


async def export_set(stored: StoredSet, path: str) -> float:
    """Replay ``stored`` into an audio file; returns the seconds written."""
    info = stored.announce.message
    assert isinstance(info, StreamAnnounce)
    recorder = Recorder(path, channels=info.channels, bitrate=info.bitrate)
    try:
        async for chunk in replay_pcm(stored):
            await asyncio.to_thread(recorder.write, chunk)
    finally:
        recorder.close()
    return recorder.seconds
