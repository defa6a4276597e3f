"""The DJ side: capture a source, pace it to real time, sign segments, serve the tree's root.

The capture thread decodes and encodes ahead (bounded); the pacer releases one frame per
frame period and stamps it with its capture time, so latency is measured from the moment a
frame enters the live timeline.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import queue
import threading
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import nacl.signing

from djmesh.node.clock import monotonic, now_s, now_us, sleep
from djmesh.node.live.capture import CaptureThread
from djmesh.node.live.hub import StreamHub
from djmesh.node.live.sets import SetSegment, SetWriter
from djmesh.node.live.taps import Tap
from djmesh.protocol.envelope import SignedEnvelope
from djmesh.protocol.stream import Frame, Playout, SegmentSigner, StreamAnnounce

log = logging.getLogger(__name__)

AHEAD_FRAMES = 25  # how far the capture thread may run ahead of real time
CAPTURE_WAIT_S = 0.2  # a wait for a source that is behind is looked at again this often (real seconds)
_END = object()


class Broadcast:
    def __init__(
        self,
        announce: SignedEnvelope,
        packets: Iterator[bytes],
        stop: threading.Event,
        *,
        signing_key: nacl.signing.SigningKey,
        hub: StreamHub,
        writer: SetWriter | None,
        publish_end: Callable[[SegmentSigner], Awaitable[SignedEnvelope | None]],
    ) -> None:
        message = announce.message
        assert isinstance(message, StreamAnnounce)
        self.announce = announce
        self.info = message
        self.stream = announce.content_id
        self.hub = hub
        self.signer = SegmentSigner(signing_key, self.stream, message.segment_frames)
        self.taps: set[Tap] = set()
        self.error: str | None = None
        self.ended: SignedEnvelope | None = None
        self.frames_sent = 0
        self.started_at = now_s()
        self._writer = writer
        self._publish_end = publish_end
        self._segment: list[Frame] = []
        self._queue: queue.Queue[Any] = queue.Queue(maxsize=AHEAD_FRAMES)
        self._capture = CaptureThread(packets, self._deliver, stop)
        self._task: asyncio.Task[None] | None = None
        self.done = asyncio.Event()

    def start(self) -> None:
        self._capture.start()
        self._task = asyncio.ensure_future(self._run())

    def _deliver(self, packet: bytes | None, error: str | None) -> bool:
        """Called on the capture thread: blocks while the pacer is AHEAD_FRAMES behind."""
        item: Any = packet if packet is not None else (_END, error)
        while not self._capture.stop.is_set():
            try:
                self._queue.put(item, timeout=0.2)
                return True
            except queue.Full:
                continue
        return False

    async def _next_packet(self) -> Any:
        try:
            return self._queue.get_nowait()
        except queue.Empty:
            pass
        while True:
            # The source is behind: wait for it in a worker thread, not by polling the loop's clock. The loop
            # stays free, and on a virtual clock (node/clock.py) time stands still while the encoder catches
            # up, so a simulated DJ's set is not cut short by a busy machine.
            try:
                return await asyncio.to_thread(self._queue.get, True, CAPTURE_WAIT_S)
            except queue.Empty:
                if self._capture.stop.is_set():
                    return (_END, None)

    async def _run(self) -> None:
        frame_s = self.info.frame_ms / 1000.0
        start = monotonic()
        seq = 0
        try:
            while True:
                delay = start + seq * frame_s - monotonic()
                if delay > 0:
                    await sleep(delay)
                item = await self._next_packet()
                if isinstance(item, tuple) and item and item[0] is _END:
                    self.error = item[1]
                    break
                late = monotonic() - (start + seq * frame_s)
                if late > 0.2:  # the source stalled: restart the clock instead of bursting
                    start = monotonic() - seq * frame_s
                self._send(Frame(seq, now_us(), item))
                seq += 1
        except asyncio.CancelledError:
            pass
        except Exception as exc:
            log.exception("broadcast %s failed", self.stream.hex()[:8])
            self.error = f"broadcast failed: {type(exc).__name__}: {exc}"
        finally:
            self._capture.stop.set()
            try:
                await self._finish()
            except Exception:
                log.exception("finishing broadcast %s failed", self.stream.hex()[:8])
            finally:
                self.done.set()

    def _send(self, frame: Frame) -> None:
        self.hub.forward_frame(frame.seq, frame.encode())
        self.frames_sent += 1
        self._segment.append(frame)
        now = now_us()
        for tap in list(self.taps):
            tap.on_playout(Playout(frame.seq, frame.ts_us, frame.payload, now), now)
        manifest = self.signer.add(frame)
        if manifest is not None:
            self._segment_done(manifest)

    def _segment_done(self, manifest: Any) -> None:
        segment = SetSegment(manifest, tuple(self._segment))
        self._segment = []
        self.hub.forward_manifest(manifest.first_seq, manifest.end_seq, manifest.wire)
        if self._writer is not None:
            self._writer.add(segment)
        for tap in list(self.taps):
            tap.on_segment(segment)

    async def _finish(self) -> None:
        manifest = self.signer.flush()
        if manifest is not None:
            self._segment_done(manifest)
        try:
            self.ended = await self._publish_end(self.signer)
        except Exception as exc:
            log.warning("announcing the end of %s failed: %s", self.stream.hex()[:8], exc)
        if self.ended is not None:
            self.hub.end(self.ended.wire)
        if self._writer is not None:
            self._writer.finish(self.ended)
        if self.error:
            log.warning("stream %s ended: %s", self.stream.hex()[:8], self.error)
        for tap in list(self.taps):
            tap.on_end(self.error)
        self.done.set()

    async def stop(self) -> None:
        self._capture.stop.set()
        if self._task is not None and not self._task.done():
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self.done.wait()

    @property
    def live(self) -> bool:
        return not self.done.is_set()
