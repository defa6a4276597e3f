"""The queue ahead of a sound device: it rides over event-loop stalls shorter than its lead, and counts what
a listener hears when it cannot."""

from __future__ import annotations

import asyncio
import sys
import threading
import types
from collections.abc import Callable

import numpy as np
import pytest

from djmesh.node.clock import VirtualClock, monotonic, run_virtual, sleep
from djmesh.node.live.codec import SAMPLE_RATE
from djmesh.node.live.device_queue import DEVICE_LEAD_S, DeviceQueue
from djmesh.node.live.sinks import DeviceSink, NullSink, open_default_sink

FRAME = SAMPLE_RATE // 50  # 20 ms
MS = SAMPLE_RATE // 1000
LEAD_FRAMES = -(-round(DEVICE_LEAD_S * SAMPLE_RATE) // FRAME)  # frames the device gathers before it plays


def run(queue: DeviceQueue, pushes: dict[int, int], until_ms: int) -> None:
    """Drive the device a millisecond at a time; ``pushes``: at which ms how many 20 ms frames arrive."""
    for at_ms in range(until_ms):
        for _ in range(pushes.get(at_ms, 0)):
            queue.push(FRAME)
        queue.pull(MS)


def steady(frames: int, start_ms: int = 0, stall: tuple[int, int] | None = None) -> dict[int, int]:
    """A frame every 20 ms; during ``stall`` (from, to ms) none, then all that fell due at once."""
    pushes: dict[int, int] = {}
    for index in range(frames):
        at = start_ms + 20 * index
        if stall is not None and stall[0] <= at < stall[1]:
            at = stall[1]
        pushes[at] = pushes.get(at, 0) + 1
    return pushes


def test_a_stall_shorter_than_the_lead_is_not_heard() -> None:
    queue = DeviceQueue()
    run(queue, steady(200, stall=(1_000, 1_180)), until_ms=4_000)
    assert (queue.underruns, queue.gap_samples, queue.dropped_samples) == (0, 0, 0)


def test_a_stall_longer_than_the_lead_is_one_gap_of_the_excess() -> None:
    queue = DeviceQueue()
    run(queue, steady(200, stall=(1_000, 1_500)), until_ms=4_000)
    assert queue.underruns == 1
    lead_ms = DEVICE_LEAD_S * 1000
    assert abs(queue.gap_ms - (500 - lead_ms)) <= 21, queue.gap_ms  # within a frame of the excess


def test_the_device_waits_for_the_lead_before_it_plays_and_the_end_is_no_gap() -> None:
    queue = DeviceQueue()
    out = np.ones((MS, 2), np.float32)
    tone = np.full((FRAME, 2), 0.5, np.float32)
    for _ in range(LEAD_FRAMES - 1):
        queue.push(FRAME, tone)
        queue.pull(MS, out)
        assert not out.any()  # still gathering the lead: silence, and not a gap
    queue.push(FRAME, tone)
    queue.pull(MS, out)
    assert (out == 0.5).all()
    run(queue, {}, until_ms=1_000)  # the stream ends: the queue runs dry for good
    assert (queue.underruns, queue.gap_samples, queue.level) == (0, 0, 0)


def test_the_queue_stays_bounded_when_more_comes_than_the_device_plays() -> None:
    queue = DeviceQueue()
    run(queue, {0: 100}, until_ms=10)  # two seconds at once: a jitter buffer's delay falling fast
    assert queue.level <= queue.most and queue.dropped_samples >= 100 * FRAME - queue.most - 10 * MS


def test_a_headless_listener_reports_the_gap_a_device_would_play() -> None:
    """The null sink drains its queue by the node's clock, so a stalled loop shows as a gap in the stats."""

    async def listen(stall_s: float) -> DeviceQueue:
        sink, pushed, start = NullSink(), 0, monotonic()
        while pushed < 150:  # as playout does: every frame due by now, at once after a stall
            due = min(150, int((monotonic() - start) / 0.02) + 1)
            for _ in range(due - pushed):
                sink.skip(FRAME)
            stalled, pushed = pushed < 100 <= due, due
            await sleep(stall_s if stalled else 0.02)
        return sink.device_queue

    short = run_virtual(listen(0.15), VirtualClock())
    assert (short.underruns, short.gap_samples) == (0, 0)
    long = run_virtual(listen(0.6), VirtualClock())
    excess_ms = 600 - DEVICE_LEAD_S * 1000  # the stall less what was queued: the lead and up to 2 frames more
    assert long.underruns == 1 and excess_ms - 41 <= long.gap_ms <= excess_ms + 1, long.gap_ms


class FakeOutputStream:
    """Stands in for PortAudio's stream (no sound card here): the test plays the device's callback."""

    opening = threading.Event()  # set: a stream is being opened; the test holds it in PortAudio until ``go``
    go = threading.Event()
    closed = 0

    def __init__(self, *, callback: Callable[..., None], channels: int, **_: object) -> None:
        self.callback, self.channels, self.started = callback, channels, False
        FakeOutputStream.opening.set()
        FakeOutputStream.go.wait(10)

    def start(self) -> None:
        self.started = True

    def stop(self) -> None:
        pass

    def close(self) -> None:
        FakeOutputStream.closed += 1


def test_a_sound_device_plays_from_the_queue_on_its_own_callback(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "sounddevice", types.SimpleNamespace(OutputStream=FakeOutputStream))
    FakeOutputStream.go.set()
    sink = DeviceSink(channels=2)
    stream = sink._stream
    assert isinstance(stream, FakeOutputStream) and stream.started
    out = np.ones((FRAME, 2), np.float32)
    frames = LEAD_FRAMES
    for index in range(frames):
        sink.play(np.full((FRAME, 2), index + 1, np.float32))
    stream.callback(out, FRAME, None, None)
    assert (out == 1).all()  # the first frame, once the lead has gathered
    for _ in range(frames):  # the device plays on while the loop is stalled: no new frame
        stream.callback(out, FRAME, None, None)
    sink.play(np.full((FRAME, 2), 99, np.float32))
    assert sink.device_queue.underruns == 1 and sink.device_queue.gap_ms == 20.0


def test_a_listen_cancelled_while_the_device_opens_closes_it(monkeypatch: pytest.MonkeyPatch) -> None:
    """The device is opened off the event loop; a caller gone meanwhile must not leave it playing."""
    monkeypatch.setitem(sys.modules, "sounddevice", types.SimpleNamespace(OutputStream=FakeOutputStream))
    FakeOutputStream.opening.clear()
    FakeOutputStream.go.clear()
    closed = FakeOutputStream.closed

    async def main() -> None:
        opening = asyncio.ensure_future(open_default_sink(2))
        await asyncio.to_thread(FakeOutputStream.opening.wait, 10)
        opening.cancel()  # the loop runs on while PortAudio is busy; the caller gives up
        with pytest.raises(asyncio.CancelledError):
            await opening
        FakeOutputStream.go.set()
        for _ in range(1000):  # up to 10 s for the worker thread to finish
            if FakeOutputStream.closed > closed:
                return
            await asyncio.sleep(0.01)

    asyncio.run(main())
    assert FakeOutputStream.closed == closed + 1
