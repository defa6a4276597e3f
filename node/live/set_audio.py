"""The audio a judge scores: a set's signed frames decoded in chain order into mono float32 PCM.

``decode_mono`` decodes a whole stored set (in a worker thread, off the event loop). A
``SetDecoding`` does the same work while the set still streams in: it takes whole segments as
they are verified or fetched, in any order, and decodes them one after the other from segment 0
in a worker thread, so at the end of the set only its last second is left to decode. Both feed
one Opus decoder every frame from the first, so they give the same samples, bit for bit.

A decoding asked for ``features`` also runs the judge's feature pass on the samples as they are decoded
(``dsp.features.PcmFeed``: the same bytes as the pass over the whole set), so the judge after the set
does only the last block of it and the analysis that reads the features.

Both stop at ``max_samples`` when given (a battle's set length): a DJ who streams on past the set
costs a judge neither the decoding nor the memory, and every judge scores the same first samples.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from djmesh.node.live.codec import SAMPLE_RATE, OpusDecoder
from djmesh.node.live.sets import SetSegment, StoredSet
from djmesh.protocol.envelope import SignedEnvelope
from djmesh.protocol.stream import StreamAnnounce

if TYPE_CHECKING:  # the feature pass loads scipy: only a member that judges pays for it
    from djmesh.dsp.features import Features, PcmFeed

log = logging.getLogger(__name__)

Mono = npt.NDArray[np.float32]
MAX_WAITING_SEGMENTS = 600  # ten minutes of 1 s segments held for an earlier one; then decode at the end


@dataclass(frozen=True)
class SetAudio:
    """A set as a judge takes it: mono samples at 48 kHz, and their feature pass when it was done while
    the set arrived (the same bytes as ``dsp.features.extract`` of ``mono``), else None."""

    mono: Mono
    features: Features | None = None


def _mono(pcm: npt.NDArray[Any]) -> Mono:
    if pcm.ndim == 2 and pcm.shape[1] == 2 and pcm.dtype == np.float32:
        # the same float32 bits as ``mean(axis=1)``, ((0 + a) + b) / 2 (its sum starts at +0, so two -0
        # give +0), 20x faster: numpy reduces a two-wide axis one row at a time, which took a tenth of a
        # simulated battle's CPU
        total: Mono = pcm[:, 0] + pcm[:, 1]
        total += np.float32(0)
        total /= np.float32(2)
        return total
    return pcm.mean(axis=1).astype(np.float32) if pcm.ndim == 2 else pcm.astype(np.float32)


def _decode_segment(decoder: OpusDecoder, segment: SetSegment) -> Mono:
    pcm = np.concatenate([decoder.decode(f.payload if f is not None else None) for f in segment.frames])
    return _mono(pcm)


def _decoder_for(announce: SignedEnvelope) -> OpusDecoder:
    info = announce.message
    assert isinstance(info, StreamAnnounce)
    return OpusDecoder(channels=info.channels, frame_ms=info.frame_ms)


def _joined(chunks: list[Mono], max_samples: int | None) -> Mono:
    audio = np.concatenate(chunks) if chunks else np.zeros(0, np.float32)
    return audio if max_samples is None else audio[:max_samples]


def decode_mono(stored: StoredSet, max_samples: int | None = None) -> Mono:
    """The frames of ``stored`` decoded in order, as mono (the mean of the channels), up to ``max_samples``.
    CPU-bound: run in a thread."""
    decoder = _decoder_for(stored.announce)
    chunks: list[Mono] = []
    decoded = 0
    for segment in stored.segments:
        if max_samples is not None and decoded >= max_samples:
            break
        chunks.append(_decode_segment(decoder, segment))
        decoded += chunks[-1].size
    return _joined(chunks, max_samples)


class SetDecoding:
    """Decodes a set while it arrives: whole segments in, chain order enforced, one worker thread at a time."""

    def __init__(
        self, announce: SignedEnvelope, max_samples: int | None = None, *, features: bool = False
    ) -> None:
        self.stream = announce.content_id
        self.max_samples = max_samples
        self._decoder = _decoder_for(announce)
        self._decoded = 0
        self._next_index = 0
        self._next_prev = self.stream  # the digest the next segment must name as its ``prev``
        self._waiting: dict[int, SetSegment] = {}
        self._queue: asyncio.Queue[SetSegment] = asyncio.Queue()
        self._chunks: list[Mono] = []
        self.decoded_head = self.stream  # the digest of the last segment decoded
        self.failed: str | None = None
        self._progress = asyncio.Event()
        self._feed: PcmFeed | None = None
        if features:
            from djmesh.dsp.features import PcmFeed

            self._feed = PcmFeed(SAMPLE_RATE, max_samples)
        self._features: Features | None = None
        self._finishing = asyncio.Lock()
        self._task = asyncio.ensure_future(self._work())

    def offer(self, segment: SetSegment) -> None:
        """A whole, verified segment of this stream (live or fetched); decoded once its turn comes."""
        index = segment.manifest.index
        if self.failed is not None or index < self._next_index or index in self._waiting:
            return
        if len(self._waiting) >= MAX_WAITING_SEGMENTS:
            self._fail(f"{len(self._waiting)} segments waiting for segment {self._next_index}")
            return
        self._waiting[index] = segment
        while self._next_index in self._waiting:
            ready = self._waiting.pop(self._next_index)
            if ready.manifest.prev != self._next_prev:
                self._fail(f"segment {self._next_index} does not extend the chain")
                return
            self._queue.put_nowait(ready)
            self._next_prev = ready.manifest.digest
            self._next_index += 1

    def _fail(self, reason: str) -> None:
        if self.failed is not None:
            return
        log.info("set %s: decoding while it arrives stopped: %s", self.stream.hex()[:8], reason)
        self.failed = reason
        self._waiting.clear()
        self._chunks.clear()
        self._progress.set()

    async def _work(self) -> None:
        try:
            while self.failed is None:
                segment = await self._queue.get()
                chunk = await asyncio.to_thread(self._decode, segment)
                if self.failed is not None:
                    return
                self._chunks.append(chunk)
                self._decoded += chunk.size
                self.decoded_head = segment.manifest.digest
                self._progress.set()
                if self.full:
                    return  # the rest of the set is past what the judge reads
        except asyncio.CancelledError:
            self._fail("closed")
            raise
        except Exception as exc:  # never leave ``audio`` waiting on a worker that is gone
            self._fail(f"decoding failed: {exc!r}")

    def _decode(self, segment: SetSegment) -> Mono:
        chunk = _decode_segment(self._decoder, segment)
        if self._feed is not None:
            self._feed.feed(chunk)
        return chunk

    @property
    def full(self) -> bool:
        """Decoded as far as ``max_samples``: what the judge reads is all here."""
        return self.max_samples is not None and self._decoded >= self.max_samples

    async def audio(self, head: bytes) -> Mono | None:
        """The whole set's audio (up to ``max_samples``) once the segment with digest ``head`` is decoded;
        None if this decoding cannot give it (it failed, or its chain ends elsewhere: decode the stored
        set instead)."""
        while self.failed is None and not self.full and self.decoded_head != head:
            if self._queue.empty() and self._next_prev != head:
                return None  # everything offered is decoded (or queued) and the chain ends elsewhere
            self._progress.clear()
            await self._progress.wait()
        if self.failed is not None:
            return None
        return _joined(self._chunks, self.max_samples)

    async def result(self, head: bytes) -> SetAudio | None:
        """``audio(head)`` with its feature pass (when this decoding was asked for it); None as ``audio``."""
        mono = await self.audio(head)
        if mono is None or self._feed is None:
            return None if mono is None else SetAudio(mono)
        async with self._finishing:
            if self._features is None:
                self._features = await asyncio.to_thread(self._feed.finish, mono.size)
        if self._features.n_samples != mono.size:  # never: every caller asks for the same head
            return SetAudio(mono)
        return SetAudio(mono, self._features)

    def close(self) -> None:
        self._task.cancel()
        self._fail("closed")
