"""Where played audio goes: a sound device where one exists, else nowhere (the null sink).

Both queue what they are given in a ``DeviceQueue``: the device plays from it on its own thread, and the null
sink drains it by the clock, as a device would, so a headless listener reports the gaps a listener would hear.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from typing import Any, Protocol

from djmesh.node.clock import monotonic
from djmesh.node.live.codec import PCM, SAMPLE_RATE
from djmesh.node.live.device_queue import DeviceQueue

log = logging.getLogger(__name__)


class Sink(Protocol):
    def play(self, pcm: PCM) -> None: ...

    def close(self) -> None: ...

    @property
    def device_queue(self) -> DeviceQueue | None:
        """What the device has queued and the gaps it played (None: not known)."""


class NullSink:
    """Plays nowhere, at a device's pace: for headless nodes, tests and benchmarks.

    Its queue is drained by the node's clock, as a device started at the first audio would drain it.
    """

    def __init__(self) -> None:
        self.samples = 0
        self._queue = DeviceQueue()
        self._drained_at: float | None = None
        self._owed = 0.0  # samples due to the device, below one

    @property
    def device_queue(self) -> DeviceQueue:
        return self._queue

    def play(self, pcm: PCM) -> None:
        self.skip(pcm.shape[0])

    def skip(self, samples: int) -> None:
        """What ``play`` does with audio nobody hears, without the PCM: a headless listener need not decode."""
        self.samples += samples
        self._drain()
        self._queue.push(samples)

    def _drain(self) -> None:
        now = monotonic()
        if self._drained_at is not None:
            self._owed += (now - self._drained_at) * SAMPLE_RATE
            whole = int(self._owed)
            self._owed -= whole
            self._queue.pull(whole)
        self._drained_at = now

    def close(self) -> None:
        pass


class DeviceSink:
    """sounddevice output (PortAudio): its callback plays from the queue on PortAudio's thread."""

    def __init__(self, channels: int) -> None:
        import sounddevice  # type: ignore[import-untyped,import-not-found,unused-ignore]

        self._queue = DeviceQueue()
        self._lock = threading.Lock()
        self._stream: Any = sounddevice.OutputStream(
            samplerate=SAMPLE_RATE, channels=channels, dtype="float32", callback=self._fill
        )
        self._stream.start()

    @property
    def device_queue(self) -> DeviceQueue:
        return self._queue

    def _fill(self, out: PCM, frames: int, _time: object, _status: object) -> None:
        with self._lock:
            self._queue.pull(frames, out)

    def play(self, pcm: PCM) -> None:
        with self._lock:
            self._queue.push(pcm.shape[0], pcm)

    def close(self) -> None:
        self._stream.stop()
        self._stream.close()


def default_sink(channels: int, *, device: bool = True) -> Sink:
    """A device sink when sounddevice is installed and finds an output device, else the null sink."""
    if device:
        try:
            return DeviceSink(channels)
        except Exception as exc:  # no module, no PortAudio, no device: all mean "headless"
            log.debug("no sound device (%s); using the null sink", exc)
    return NullSink()


async def open_default_sink(channels: int) -> Sink:
    """``default_sink`` off the event loop: loading PortAudio and looking for a device held the loop for
    about 0.1 s (bench/hostile.py --sample-stalls). A caller cancelled meanwhile closes the sink it did not get."""
    opening = asyncio.ensure_future(asyncio.to_thread(default_sink, channels))
    try:
        return await asyncio.shield(opening)
    except asyncio.CancelledError:
        opening.add_done_callback(
            lambda done: None if done.cancelled() or done.exception() else done.result().close()
        )
        raise
