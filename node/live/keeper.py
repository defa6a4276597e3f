"""Keeping whole sets of the streams this node receives: record, fill the gaps from peers, decode.

A listener records every segment it verifies from the first one it receives (``SetRecording``).
Segments it lacks, those before it joined or lost on the way, are fetched from peers while the
stream still plays (other listeners' recordings, and the DJ, who holds them from the start), so at
the end of a set usually only the last segments are missing, if any. Sets a judge needs are decoded while they arrive
(``SetDecoding``), so the verdict waits for one second of audio, not for the whole set.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable

from djmesh.node.clock import monotonic
from djmesh.node.live import sharing
from djmesh.node.live.errors import LiveError
from djmesh.node.live.recording import SetRecording, try_assemble
from djmesh.node.live.set_audio import SetAudio, SetDecoding, decode_mono
from djmesh.node.live.sets import SetLibrary, SetSegment, StoredSet
from djmesh.protocol.envelope import SignedEnvelope
from djmesh.protocol.errors import ProtocolError
from djmesh.protocol.stream import StreamEnd

log = logging.getLogger(__name__)

MAX_RECORDINGS = 16  # streams recorded at once; the oldest recording is dropped beyond that
MAX_DECODINGS = 4  # sets decoded while they arrive (a battle has two)
FILL_INTERVAL_S = 2.0  # between two attempts to fetch a live stream's missing segments
FILL_FANOUT = 3  # peers asked at once for a recording's missing segments
FILL_HEDGE_S = 2.0  # how long a round of them has before the next round is asked as well


class SetKeeper:
    """The recordings, gap fills and decodings of one node's sets (the glue is ``LiveService``)."""

    def __init__(
        self, library: SetLibrary, ask: sharing.Ask, peers_for: Callable[[bytes], list[str]]
    ) -> None:
        self.library = library
        self._ask = ask
        self._peers_for = peers_for  # the DJ and connected peers
        self._recordings: dict[bytes, SetRecording] = {}
        self._decodings: dict[bytes, SetDecoding] = {}
        self._locks: dict[bytes, asyncio.Lock] = {}
        self._filling: dict[bytes, asyncio.Task[None]] = {}
        self._filled_at: dict[bytes, float] = {}

    def record(self, announce: SignedEnvelope) -> SetRecording:
        """A fresh recording of ``announce``'s stream (a subscription adds what it verifies)."""
        stream = announce.content_id
        old = self._recordings.pop(stream, None)
        if old is not None:
            old.discard()
        while len(self._recordings) >= MAX_RECORDINGS:
            oldest = next(iter(self._recordings))
            self._forget(oldest)
        recording = SetRecording(
            self.library.recording_path(stream),
            announce,
            on_whole=lambda segment: self._on_whole(stream, segment),
        )
        self._recordings[stream] = recording
        return recording

    def decode_while_live(
        self, announce: SignedEnvelope, max_samples: int | None = None, *, features: bool = False
    ) -> None:
        """Decode this stream's set as it arrives (for a judge), up to ``max_samples``, with the judge's
        feature pass if ``features``; segments recorded before now are not offered."""
        stream = announce.content_id
        if stream in self._decodings:
            return
        while len(self._decodings) >= MAX_DECODINGS:
            self._decodings.pop(next(iter(self._decodings))).close()
        self._decodings[stream] = SetDecoding(announce, max_samples, features=features)

    def _on_whole(self, stream: bytes, segment: SetSegment) -> None:
        decoding = self._decodings.get(stream)
        if decoding is not None:
            decoding.offer(segment)
        recording = self._recordings.get(stream)
        if recording is None or not recording.missing():
            return
        running = self._filling.get(stream)
        if running is not None and not running.done():
            return
        if monotonic() - self._filled_at.get(stream, 0.0) < FILL_INTERVAL_S:
            return
        self._filled_at[stream] = monotonic()
        self._filling[stream] = asyncio.ensure_future(self._fill_live(stream))

    def recording(self, stream: bytes) -> SetRecording | None:
        """Our open recording of ``stream`` (its whole segments are served to peers), if any."""
        recording = self._recordings.get(stream)
        return None if recording is None or recording.closed else recording

    async def _fill_live(self, stream: bytes) -> None:
        """Fetch the segments a live recording lacks below its newest (those before we joined, mostly) from
        the peers that hold them: other listeners' recordings, and the DJ's set."""
        recording = self._recordings.get(stream)
        if recording is None:
            return
        async with self._lock(stream):
            await self._fill(recording, None, self._peers_for(stream))

    def _lock(self, stream: bytes) -> asyncio.Lock:
        lock = self._locks.get(stream)
        if lock is None:
            lock = self._locks[stream] = asyncio.Lock()
        return lock

    async def _fill(self, recording: SetRecording, total: int | None, peers: list[str]) -> None:
        """Ask ``peers`` for what ``recording`` lacks, ``FILL_FANOUT`` at a time, each for all of it.

        A round that has not filled the recording within ``FILL_HEDGE_S`` (a peer slow or holding nothing)
        is joined by the next one. The DJ is in the first round beside a few listeners: at the end of a
        set every listener lacks the same last segments, which only the DJ is sure to hold (with listeners
        only in the first round, 10-viewer battles took 10.7-21.5 s to a result, against 4.6-10.8 s asking
        the DJ alone), while the listeners' recordings hold what came before. Asking a few peers at once
        means a peer that is slow or holds nothing costs no more than the fastest one; a segment that
        arrives twice is kept once."""
        dj = recording.announce.author_peer_id
        others = [] if recording.served_by_dj_only else [p for p in peers if p != dj]
        random.shuffle(others)  # spread the load: every listener asks a different few first
        later = others[FILL_FANOUT:]
        rounds = [([dj] if dj in peers else []) + others[:FILL_FANOUT]] + [
            later[i : i + FILL_FANOUT] for i in range(0, len(later), FILL_FANOUT)
        ]
        errors: list[str] = []

        async def ask(peer: str, missing: list[int]) -> None:
            added = 0

            def keep(segment: SetSegment) -> None:
                nonlocal added
                added += recording.add(segment)

            try:
                await sharing.fetch_segments(self._ask, peer, recording.announce, missing, keep)
            except (LiveError, ProtocolError) as exc:
                errors.append(f"{peer[-8:]}: {exc} (after {added} new)")
            else:
                errors.append(f"{peer[-8:]}: gave {added} new")

        running: set[asyncio.Future[None]] = set()
        try:
            for batch in rounds:
                missing = recording.missing(total)
                if not missing or recording.closed:
                    return
                running |= {asyncio.ensure_future(ask(peer, missing)) for peer in batch}
                await _until_filled(recording, total, running, FILL_HEDGE_S)
            await _until_filled(recording, total, running, None)
        finally:
            for task in running:
                task.cancel()  # what they were asked for is here, or they had their time
        if peers and (missing := recording.missing(total)):
            log.info(
                "set %s: %d segment(s) still missing (from %d) after asking %d peer(s): %s",
                recording.stream.hex()[:8],
                len(missing),
                missing[0],
                len(errors),
                "; ".join(errors),
            )

    async def complete(self, end: SignedEnvelope, peers: list[str]) -> StoredSet | None:
        """Fill the recording of ``end``'s stream from ``peers`` and store it as the whole set; None if we
        record no such stream or it cannot be made whole (then fetch the whole set)."""
        message = end.message
        assert isinstance(message, StreamEnd)
        stream = message.stream
        async with self._lock(stream):
            recording = self._recordings.get(stream)
            if recording is None or recording.closed:
                return None
            total = message.segments
            await self._fill(recording, total, peers)
            if recording.missing(total):
                return None
            stored = await asyncio.to_thread(try_assemble, recording.path, end)
            if stored is None:
                return None
            await asyncio.to_thread(sharing.store_set, self.library, stored)
            self._forget(stream)
            log.info(
                "set %s: whole (%d segments), from what we recorded and fetched", stream.hex()[:8], total
            )
            return stored

    async def audio(self, stored: StoredSet, max_samples: int | None = None) -> SetAudio:
        """The whole set's audio (up to ``max_samples``): from the decoding done while it arrived (with its
        feature pass, if it ran one), else decoded now in a thread."""
        decoding = self._decodings.get(stored.stream)
        if decoding is not None and decoding.max_samples == max_samples:
            audio = await decoding.result(stored.head)
            if audio is not None:
                return audio
            log.info(
                "set %s: decoding it whole (%s)",
                stored.stream.hex()[:8],
                decoding.failed or "chain elsewhere",
            )
        return SetAudio(await asyncio.to_thread(decode_mono, stored, max_samples))

    def _forget(self, stream: bytes) -> None:
        recording = self._recordings.pop(stream, None)
        if recording is not None:
            recording.discard()
        task = self._filling.pop(stream, None)
        if task is not None and task is not asyncio.current_task():
            task.cancel()
        self._filled_at.pop(stream, None)
        self._locks.pop(stream, None)

    def close(self) -> None:
        for stream in list(self._recordings):
            self._forget(stream)
        for decoding in self._decodings.values():
            decoding.close()
        self._decodings.clear()
        for task in self._filling.values():
            task.cancel()


async def _until_filled(
    recording: SetRecording, total: int | None, running: set[asyncio.Future[None]], timeout_s: float | None
) -> None:
    """Wait until ``recording`` lacks nothing below ``total``, every request in ``running`` is answered,
    or ``timeout_s`` has passed; answered requests leave ``running``."""
    deadline = None if timeout_s is None else monotonic() + timeout_s
    while running and recording.missing(total) and not recording.closed:
        left = None if deadline is None else deadline - monotonic()
        if left is not None and left <= 0:
            return
        done, _ = await asyncio.wait(running, timeout=left, return_when=asyncio.FIRST_COMPLETED)
        running -= done
