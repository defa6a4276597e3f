"""Live streams for a UI attached through the control API: meter figures and decoded audio.

Both are streaming control methods (``node.control``: one line per item until the client hangs up):

- ``live_meters {streams: [stream_id, ...], hz?}``: every ``1/hz`` s (default 12), ``{stream_id:
  figures}`` for each stream (``node.live.meters.figures``: level, peak, BPM, key, beat, streaming,
  error). The node analyses the streams' verified audio itself, so the UI only draws.
- ``live_audio {stream_id}``: the stream as this node plays it out (its jitter buffer's pace),
  ``{"channels": n, "rate": 48000, "pcm": base64 of int16 little-endian, interleaved}`` about every
  20 ms (chunks a slow client let pile up are sent together), and ``{"end": listen stats}`` at the end.

A node whose owner already analyses its streams (the TUI's in-process node) lends its ``MeterBank``
with ``share_meters``; otherwise each ``live_meters`` call analyses what it asked for while it runs.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
import weakref
from collections.abc import AsyncIterator
from typing import Any

import numpy as np

from djmesh.node import control_params as req
from djmesh.node.clock import sleep
from djmesh.node.control_params import Handler
from djmesh.node.errors import ControlError
from djmesh.node.live.codec import PCM, SAMPLE_RATE
from djmesh.node.live.consumers import ListenStats
from djmesh.node.live.device_queue import DeviceQueue
from djmesh.node.live.meters import MeterBank, figures
from djmesh.node.live.service import LiveService, _stream_bytes, ensure_live
from djmesh.node.node import Node

log = logging.getLogger(__name__)

MAX_METER_STREAMS = 8
AUDIO_QUEUE_CHUNKS = 100  # 2 s of 20 ms chunks; a client further behind loses the oldest

_SHARED: weakref.WeakKeyDictionary[Node, MeterBank] = weakref.WeakKeyDictionary()


def share_meters(node: Node, bank: MeterBank) -> None:
    """``live_meters`` on ``node`` reads ``bank`` (already analysing) instead of analysing again."""
    _SHARED[node] = bank


def _stream_ids(params: dict[str, Any]) -> list[str]:
    streams = params.get("streams")
    if not isinstance(streams, list) or not 1 <= len(streams) <= MAX_METER_STREAMS:
        raise ControlError(f"streams must be a list of 1..{MAX_METER_STREAMS} stream IDs")
    out = []
    for stream in streams:
        if not isinstance(stream, str):
            raise ControlError("streams must be stream IDs (64 hex digits)")
        out.append(_stream_bytes(stream).hex())  # LiveError (a NodeError) names a bad one
    return list(dict.fromkeys(out))


async def _live_meters(node: Node, params: dict[str, Any]) -> AsyncIterator[dict[str, Any]]:
    streams = _stream_ids(params)
    hz = req.number(params, "hz", 12.0, 1.0, 30.0)
    assert hz is not None
    live = await ensure_live(node)
    shared = _SHARED.get(node)
    bank = shared or MeterBank.of(live, lambda severity, text: log.info("live_meters: %s", text))
    return _meter_items(bank, streams, 1.0 / hz, own=shared is None)


async def _meter_items(
    bank: MeterBank, streams: list[str], period_s: float, *, own: bool
) -> AsyncIterator[dict[str, Any]]:
    try:
        meters = {stream: bank.watch(stream, stream[:12]) for stream in streams}
        while True:
            yield {stream: figures(meter) for stream, meter in meters.items()}
            await sleep(period_s)
    finally:
        if own:
            await bank.close()


class _QueueSink:
    """A sink that hands played-out chunks to the control connection (dropping the oldest when behind)."""

    device_queue: DeviceQueue | None = None  # the remote app plays it: its gaps are not known here

    def __init__(self) -> None:
        self.queue: asyncio.Queue[PCM] = asyncio.Queue()
        self.channels = 0

    def play(self, pcm: PCM) -> None:
        self.channels = pcm.shape[1] if pcm.ndim == 2 else 1
        if self.queue.qsize() >= AUDIO_QUEUE_CHUNKS:
            self.queue.get_nowait()
        self.queue.put_nowait(pcm)

    def close(self) -> None:
        pass


async def _live_audio(node: Node, params: dict[str, Any]) -> AsyncIterator[dict[str, Any]]:
    stream_id = _stream_bytes(req.text(params, "stream_id")).hex()
    live = await ensure_live(node)
    return _audio_items(live, stream_id)


async def _audio_items(live: LiveService, stream_id: str) -> AsyncIterator[dict[str, Any]]:
    sink = _QueueSink()
    listening: asyncio.Task[ListenStats] = asyncio.ensure_future(live.listen(stream_id, sink=sink))
    try:
        while True:
            getting = asyncio.ensure_future(sink.queue.get())
            await asyncio.wait({getting, listening}, return_when=asyncio.FIRST_COMPLETED)
            if not getting.done():
                getting.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await getting
                break
            chunks = [getting.result()]
            while not sink.queue.empty():
                chunks.append(sink.queue.get_nowait())
            yield _audio_item(chunks, sink.channels)
        while not sink.queue.empty():  # what played just before the end
            yield _audio_item([sink.queue.get_nowait()], sink.channels)
        yield {"end": listening.result().to_json()}  # a failed listen raises its error here
    finally:
        if not listening.done():
            listening.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await listening


def _audio_item(chunks: list[PCM], channels: int) -> dict[str, Any]:
    pcm = np.concatenate(chunks) if len(chunks) > 1 else chunks[0]
    samples = (np.clip(pcm, -1.0, 1.0) * 32767.0).astype("<i2")
    return {"channels": channels, "rate": SAMPLE_RATE, "pcm": base64.b64encode(samples.tobytes()).decode()}


def audio_pcm(item: dict[str, Any]) -> PCM:
    """A ``live_audio`` item's samples back as float32 ``(samples, channels)``; ``ValueError`` if malformed."""
    channels = item.get("channels")
    data = item.get("pcm")
    if not isinstance(channels, int) or not 1 <= channels <= 2 or not isinstance(data, str):
        raise ValueError("a live_audio item has channels (1 or 2) and pcm (base64)")
    raw = np.frombuffer(base64.b64decode(data, validate=True), "<i2")
    if raw.size % channels:
        raise ValueError("a live_audio item's samples do not fill its channels")
    return (raw.reshape(-1, channels).astype(np.float32) / 32768.0).astype(np.float32, copy=False)


FEED_METHODS: dict[str, Handler] = {
    "live_meters": _live_meters,
    "live_audio": _live_audio,
}
