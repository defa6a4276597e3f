"""Sends MIDI clock at a tempo: 24 ticks per quarter note on an absolute schedule.

Each tick is due at ``anchor + k * period``, so a late wake-up delays one tick and never the
ones after it (a ``sleep(period)`` loop adds every delay to the next tick and drifts). A tempo
change re-anchors the schedule at the next tick. The lateness of every tick is measured.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from djmesh.node.midi.clock import CLOCK, START, STOP, TICKS_PER_BEAT

MIN_BPM, MAX_BPM = 20.0, 400.0


@dataclass(frozen=True)
class SenderStats:
    ticks: int
    seconds: float
    mean_late_ms: float
    max_late_ms: float
    p99_late_ms: float
    drift_ms: float  # lateness of the last tick: what a free-running loop would have accumulated

    def to_json(self) -> dict[str, float | int]:
        return {
            "ticks": self.ticks,
            "seconds": round(self.seconds, 3),
            "mean_late_ms": round(self.mean_late_ms, 3),
            "max_late_ms": round(self.max_late_ms, 3),
            "p99_late_ms": round(self.p99_late_ms, 3),
            "drift_ms": round(self.drift_ms, 3),
        }


def check_bpm(bpm: float) -> float:
    if not MIN_BPM <= bpm <= MAX_BPM:
        raise ValueError(f"tempo must be {MIN_BPM:g}..{MAX_BPM:g} bpm (got {bpm:g})")
    return float(bpm)


class ClockSender:
    """A thread that calls ``send(status_byte)``: Start, then clock ticks, then Stop."""

    def __init__(
        self,
        send: Callable[[int], None],
        bpm: float,
        *,
        send_start: bool = True,
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        self._send = send
        self._bpm = check_bpm(bpm)
        self._send_start = send_start
        self._clock = clock
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._late: list[float] = []
        self._started_at = 0.0
        self._ended_at = 0.0
        self.error: BaseException | None = None

    @property
    def bpm(self) -> float:
        return self._bpm

    @bpm.setter
    def bpm(self, value: float) -> None:
        with self._lock:
            self._bpm = check_bpm(value)

    def start(self) -> None:
        if self._thread is not None:
            raise RuntimeError("clock sender already started")
        self._thread = threading.Thread(target=self._run, name="djmesh-midi-clock", daemon=True)
        self._thread.start()

    def stop(self) -> SenderStats:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        return self.stats()

    def _run(self) -> None:
        try:
            self._loop()
        except BaseException as exc:  # a closed port: report it, the caller decides
            self.error = exc

    def _loop(self) -> None:
        if self._send_start:
            self._send(START)
        anchor = self._clock()
        self._started_at = anchor
        k = 0
        bpm = self._bpm
        period = 60.0 / (bpm * TICKS_PER_BEAT)
        while not self._stop.is_set():
            due = anchor + k * period
            wait = due - self._clock()
            if wait > 0 and self._stop.wait(wait):
                break
            self._send(CLOCK)
            self._late.append(self._clock() - due)
            k += 1
            with self._lock:
                wanted = self._bpm
            if wanted != bpm:  # re-anchor: the next tick comes one new period after this one
                anchor, k, bpm = due, 1, wanted
                period = 60.0 / (bpm * TICKS_PER_BEAT)
        self._ended_at = self._clock()
        self._send(STOP)

    def stats(self) -> SenderStats:
        late = sorted(self._late)
        if not late:
            return SenderStats(0, 0.0, 0.0, 0.0, 0.0, 0.0)
        return SenderStats(
            ticks=len(late),
            seconds=max(self._ended_at - self._started_at, 0.0),
            mean_late_ms=1000 * sum(late) / len(late),
            max_late_ms=1000 * late[-1],
            p99_late_ms=1000 * late[min(len(late) - 1, (len(late) * 99) // 100)],
            drift_ms=1000 * self._late[-1],
        )
