"""Local consumers: a listen session (playout, stats, recording) and verified PCM/frame iterators."""

from __future__ import annotations

import asyncio
import statistics
from collections.abc import AsyncIterator
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from djmesh.node.clock import monotonic
from djmesh.node.live.codec import PCM, OpusDecoder
from djmesh.node.live.recorder import Recorder
from djmesh.node.live.sets import SetSegment
from djmesh.node.live.sinks import NullSink, Sink
from djmesh.protocol.stream import Playout

QUEUE_SEGMENTS = 600  # ten minutes of 1 s segments; a consumer that falls further behind loses the oldest


@dataclass
class ListenStats:
    """What a listener measured. ``latency_ms`` is capture (DJ clock) to playout (ours), median."""

    stream_id: str
    seconds: float = 0.0
    latency_ms: float | None = None
    latency_p95_ms: float | None = None
    lost_frames: int = 0
    played_frames: int = 0
    verified_frames: int = 0
    unverified_frames: int = 0
    dropped: dict[str, int] = field(default_factory=dict)
    hops: int = 0
    bitrate: float = 0.0
    reparents: int = 0
    recovered_frames: int = 0  # datagrams lost on the way and fetched again (NACK) for the record
    max_gap_ms: float = 0.0  # the longest pause between two frames handed to the sink
    # silence the sound device played between audio (a dry queue: ``DeviceQueue``), and how many times; a
    # headless node reports what a device would have played
    audio_gap_ms: float = 0.0
    underruns: int = 0
    first_audio_ms: float | None = None
    jitter_delay_ms: float = 0.0
    verified_playout: bool = False  # only frames whose segment verified were played
    record: str | None = None
    recorded_seconds: float = 0.0
    ended: bool = False
    error: str | None = None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


class ListenSession:
    """Plays a stream into a sink and records its verified audio; gathers the stats."""

    def __init__(
        self, stream_id: str, *, sink: Sink, recorder: Recorder | None, channels: int, frame_ms: int
    ) -> None:
        self.stats = ListenStats(stream_id, record=str(recorder.path) if recorder else None)
        self._sink = sink
        self._recorder = recorder
        self._playout_decoder = OpusDecoder(channels=channels, frame_ms=frame_ms)
        self._record_decoder = OpusDecoder(channels=channels, frame_ms=frame_ms)
        self._latencies: list[float] = []
        self._payload_bytes = 0
        self._started = monotonic()
        self._last_real: float | None = None
        self.first_seq: int | None = None
        self.last_seq: int | None = None
        self._recorded_upto: int | None = None
        self.ended = asyncio.Event()
        # a segment was recorded or the source ended: wakes whoever waits on either
        self.progress = asyncio.Event()

    def on_playout(self, item: Playout, now_us: int) -> None:
        if isinstance(self._sink, NullSink):  # nobody hears it: Opus decode was ~10 % of a listener's CPU
            self._sink.skip(self._playout_decoder.frame_samples)
        else:
            self._sink.play(self._playout_decoder.decode(item.payload))
        now = monotonic()
        if self.first_seq is None:
            self.first_seq = item.seq
            self.stats.first_audio_ms = (now - self._started) * 1000.0
        self.last_seq = item.seq
        if item.payload is None:
            self.stats.lost_frames += 1
            return
        self.stats.played_frames += 1
        self._payload_bytes += len(item.payload)
        self._latencies.append((now_us - item.ts_us) / 1000.0)
        if self._last_real is not None:
            self.stats.max_gap_ms = max(self.stats.max_gap_ms, (now - self._last_real) * 1000.0)
        self._last_real = now

    def on_segment(self, segment: SetSegment) -> None:
        if self.first_seq is None:
            return
        for offset, frame in enumerate(segment.frames):
            seq = segment.manifest.first_seq + offset
            if seq < self.first_seq or (self._recorded_upto is not None and seq < self._recorded_upto):
                continue
            if frame is None:
                self.stats.unverified_frames += 1
            else:
                self.stats.verified_frames += 1
            if self._recorder is not None:
                self._recorder.write(self._record_decoder.decode(frame.payload if frame else None))
            self._recorded_upto = seq + 1
        self.progress.set()

    def on_end(self, error: str | None) -> None:
        self.stats.ended = True
        self.stats.error = error
        self.ended.set()
        self.progress.set()

    @property
    def recorded_upto(self) -> int | None:
        return self._recorded_upto

    def finish(
        self, *, hops: int, dropped: dict[str, int], jitter_delay_us: int, reparents: int, recovered: int = 0
    ) -> ListenStats:
        stats = self.stats
        stats.seconds = monotonic() - self._started
        if self._latencies:
            ordered = sorted(self._latencies)
            stats.latency_ms = round(statistics.median(ordered), 2)
            stats.latency_p95_ms = round(ordered[min(len(ordered) - 1, len(ordered) * 95 // 100)], 2)
        played_s = stats.played_frames * self._playout_decoder.frame_samples / 48_000
        stats.bitrate = round(self._payload_bytes * 8 / played_s) if played_s else 0.0
        stats.hops = hops
        stats.dropped = dict(dropped)
        stats.jitter_delay_ms = jitter_delay_us / 1000.0
        stats.reparents = reparents
        stats.recovered_frames = recovered
        if (queue := self._sink.device_queue) is not None:
            stats.audio_gap_ms = round(queue.gap_ms, 1)
            stats.underruns = queue.underruns
        if self._recorder is not None:
            self._recorder.close()
            stats.recorded_seconds = round(self._recorder.seconds, 3)
        self._sink.close()
        return stats


class VerifiedFeed:
    """Verified segments as they arrive, for ``LiveService.pcm`` / ``frames`` (the judge's input)."""

    def __init__(self) -> None:
        self._queue: asyncio.Queue[SetSegment | None] = asyncio.Queue()

    def on_playout(self, item: Playout, now_us: int) -> None:
        pass

    def on_segment(self, segment: SetSegment) -> None:
        if self._queue.qsize() >= QUEUE_SEGMENTS:
            self._queue.get_nowait()
        self._queue.put_nowait(segment)

    def on_end(self, error: str | None) -> None:
        self._queue.put_nowait(None)

    async def segments(self) -> AsyncIterator[SetSegment]:
        while True:
            segment = await self._queue.get()
            if segment is None:
                return
            yield segment


async def decode_segments(
    segments: AsyncIterator[SetSegment], *, channels: int, frame_ms: int
) -> AsyncIterator[tuple[int, PCM]]:
    """(first seq, PCM of the whole segment) with silence where frames were lost."""
    decoder = OpusDecoder(channels=channels, frame_ms=frame_ms)
    async for segment in segments:
        chunks = [decoder.decode(f.payload if f is not None else None) for f in segment.frames]
        yield segment.manifest.first_seq, np.concatenate(chunks)
