"""MIDI clock to tempo and phase (no I/O): feed it the arrival times of clock messages.

MIDI clock is 24 ticks per quarter note (0xF8) plus transport messages: Start (0xFA) rewinds
to the first beat, Stop (0xFC) pauses, Continue (0xFB) resumes, Song Position (0xF2) moves
the position in sixteenths. Arrival times are noisy: a JACK period (5.3 ms at 256 frames)
batches events, the OS schedules late, a busy sender skips a tick. So the tempo is the slope
of a least-squares line through the last ``window`` ticks (time against tick number), with a
second pass that ignores outliers. A gap of about k periods counts as k ticks, so a dropped
tick does not bend the line; if the missing ticks then arrive in a burst (a sender or a
receiver that was late and catches up), or the next tick comes early for the place counted
from the tick before the gap (one tick late, then on time again), they fill the places already
counted. The period that judges a gap is measured over a beat of ticks, not from the last
interval: arrivals snapped to JACK cycles (5.3 ms, a quarter of a period at 125 bpm) made single
intervals count late ticks as lost, which bent the period, which counted more (150 bpm read for
125 on a busy machine).
"""

from __future__ import annotations

import itertools
import math
import statistics
from collections import deque
from dataclasses import dataclass

TICKS_PER_BEAT = 24
CLOCK, START, CONTINUE, STOP, SONG_POSITION = 0xF8, 0xFA, 0xFB, 0xFC, 0xF2
_LATE_SLACK = 0.55  # periods a tick may be late before the gap counts a lost tick (the next tick can undo it)
_LATE_SLACK_FIRST_BEAT = 0.85  # the same while the period comes from less than a beat of ticks
_AFTER_GAP_TICKS = 4  # a late tick and the next are this close: later ones are judged on their own
_HINT_SPAN = TICKS_PER_BEAT  # ticks over which the period that judges a gap is measured


@dataclass(frozen=True)
class ClockState:
    """What the clock says at one moment."""

    bpm: float | None  # measured tempo; None until enough ticks arrived
    running: bool  # transport: after Start/Continue, until Stop
    alive: bool  # ticks are arriving
    beat: float | None  # quarter notes since Start (None before a Start or Song Position)
    phase: float | None  # position inside the beat, 0 <= phase < 1
    ticks: int  # clock ticks received in total


def _slope(points: list[tuple[int, float]]) -> tuple[float, float]:
    """Least-squares ``t = a + b * index``; returns (b, a)."""
    n = len(points)
    mean_x = sum(x for x, _ in points) / n
    mean_y = sum(y for _, y in points) / n
    sxx = sum((x - mean_x) ** 2 for x, _ in points)
    sxy = sum((x - mean_x) * (y - mean_y) for x, y in points)
    b = sxy / sxx
    return b, mean_y - b * mean_x


class ClockTracker:
    """Tempo, transport and position from clock arrival times (seconds, any monotonic clock)."""

    def __init__(self, *, window: int = 96, min_ticks: int = 12, timeout_s: float = 0.5) -> None:
        if window < min_ticks or min_ticks < 3:
            raise ValueError("need 3 <= min_ticks <= window")
        self.window = window
        self.min_ticks = min_ticks
        self.timeout_s = timeout_s
        self.ticks = 0
        self.running = False
        self._transport_seen = False
        self._points: deque[tuple[int, float]] = deque(maxlen=window)
        self._index = 0
        self._last_t: float | None = None
        self._credit = 0  # ticks counted for recent gaps that may still arrive late
        self._credit_until = 0
        self._before_gap: tuple[int, float] | None = None  # (index, time) of the tick before the last gap
        self._position: int | None = None  # ticks since Start of the last clock received
        self._next: int | None = None  # the position the next clock will have
        self._fresh = True  # no clock counted since Start/Continue/Song Position
        self._fit: tuple[float, float] | None = None
        self._last_bpm: float | None = None

    # -- input --------------------------------------------------------------------------------

    def feed(self, status: int, t: float, data: tuple[int, ...] = ()) -> None:
        """One real-time message by status byte (others are ignored)."""
        if status == CLOCK:
            self.clock(t)
        elif status == START:
            self.start(t)
        elif status == CONTINUE:
            self.continue_(t)
        elif status == STOP:
            self.stop(t)
        elif status == SONG_POSITION and len(data) == 2:
            self.song_position(data[0] | data[1] << 7)

    def clock(self, t: float) -> None:
        self.ticks += 1
        step = 1
        if self._last_t is not None:
            dt = t - self._last_t
            period = self._period_hint()
            ahead = dt / period if period else None  # 1.0 for the next tick on time
            if dt > self.timeout_s:
                self._points.clear()  # the clock stopped for a while: measure afresh
                self._credit = 0
            elif (
                period
                and self._credit > 0
                and ((ahead is not None and ahead < 0.5) or self._early(t, period))
            ):
                # Within half a period of the last one, or early for its place counted from the tick
                # before the gap: the gap was late ticks, not lost ones, and the ticks counted for it
                # arrive now. They take the place already counted.
                step, self._credit = 0, self._credit - 1
            elif dt > 0:
                if ahead is not None:  # a tick is lost only when the gap is clearly longer than a late one
                    slack = _LATE_SLACK if len(self._points) > _HINT_SPAN else _LATE_SLACK_FIRST_BEAT
                    step = max(1, math.floor(ahead + 1 - slack))
                if step > 1:
                    self._before_gap = (self._index, self._last_t)
                    self._credit = min(self._credit + step - 1, TICKS_PER_BEAT)
                    self._credit_until = self._index + step + TICKS_PER_BEAT
                elif self._index >= self._credit_until:
                    self._credit = 0  # a beat without a burst: those ticks were lost
        self._index += step
        self._last_t = t
        if step == 0 and self._points:
            self._points.pop()  # keep the latest arrival for this tick number
        self._points.append((self._index, t))
        self._fit = None
        if self.running and self._next is not None:
            self._position = self._next + (0 if self._fresh else step - 1)
            self._next = self._position + 1
            self._fresh = False

    def start(self, t: float) -> None:
        """Rewind: the next clock is the first tick of beat 1."""
        self._transport_seen = True
        self.running = True
        self._position = None
        self._next = 0
        self._fresh = True

    def continue_(self, t: float) -> None:
        """Resume where Stop (or Song Position) left the position."""
        self._transport_seen = True
        self.running = True
        self._fresh = True

    def stop(self, t: float) -> None:
        self._transport_seen = True
        self.running = False

    def song_position(self, sixteenths: int) -> None:
        """Song Position Pointer: MIDI beats (sixteenth notes, 6 ticks each) since the start."""
        self._next = sixteenths * (TICKS_PER_BEAT // 4)
        self._position = None
        self._fresh = True

    # -- output -------------------------------------------------------------------------------

    def _early(self, t: float, period: float) -> bool:
        """Whether ``t`` comes over half a period before the next place, counted from the last gap."""
        if self._before_gap is None:
            return False
        index, at = self._before_gap
        if self._index - index > _AFTER_GAP_TICKS:
            return False  # farther back, a small error in the period adds up to half a tick
        return (t - at) / period < self._index - index + 0.5

    def _period_hint(self) -> float | None:
        """The tick period that judges the next gap: the median over spans of a beat of recent ticks.

        Over a beat, arrivals snapped to JACK cycles or late by a busy machine err by a cycle in 24
        periods, and one gap counted wrong errs by one tick in 24; the median drops the spans that
        hold a stall. (One interval alone errs by a whole cycle, a fifth of a period: counting gaps
        by it turned late ticks into lost ones and bent the tempo further with each.)
        """
        points = self._points
        if len(points) < 4:
            return None
        if len(points) <= _HINT_SPAN:  # less than a beat: the median interval, which lost ticks do not bend
            return statistics.median(
                b[1] - a[1] for a, b in zip(points, itertools.islice(points, 1, None), strict=False)
            )
        span = _HINT_SPAN
        return statistics.median(
            (points[i + span][1] - points[i][1]) / (points[i + span][0] - points[i][0])
            for i in range(len(points) - span)
        )

    def _estimate(self) -> tuple[float, float] | None:
        points = list(self._points)
        if len(points) < self.min_ticks or points[-1][0] == points[0][0]:
            return None
        b, a = _slope(points)
        residuals = [abs(y - (a + b * x)) for x, y in points]
        spread = statistics.median(residuals)
        kept = [p for p, r in zip(points, residuals, strict=True) if r <= 4 * spread + 1e-4]
        if len(kept) >= self.min_ticks and len(kept) < len(points) and kept[-1][0] != kept[0][0]:
            b, a = _slope(kept)
        return (b, a) if b > 0 else None

    @property
    def bpm(self) -> float | None:
        """The measured tempo (None until ``min_ticks`` ticks in a row)."""
        if self._fit is None:
            self._fit = self._estimate()
        if self._fit is not None:
            self._last_bpm = 60.0 / (self._fit[0] * TICKS_PER_BEAT)
        return self._last_bpm if self._fit is not None else None

    @property
    def last_bpm(self) -> float | None:
        """The last tempo measured, even after the clock went quiet."""
        return self.bpm or self._last_bpm

    def state(self, now: float | None = None) -> ClockState:
        """The clock at ``now`` (default: at the last tick); the phase is extrapolated up to one tick."""
        alive = self._last_t is not None and (now is None or now - self._last_t <= self.timeout_s)
        bpm = self.bpm if alive else None
        beat: float | None = None
        phase: float | None = None
        if self._position is not None:
            position = float(self._position)
            if self.running and bpm is not None and now is not None and self._last_t is not None:
                period = 60.0 / (bpm * TICKS_PER_BEAT)
                position += min(max(now - self._last_t, 0.0) / period, 1.0)
            beat = position / TICKS_PER_BEAT
            phase = beat % 1.0
        running = self.running if self._transport_seen else alive
        return ClockState(bpm=bpm, running=running, alive=alive, beat=beat, phase=phase, ticks=self.ticks)

    def beat_time(self) -> float | None:
        """When (same clock as the input) the latest beat began, read off the fitted line."""
        if self._position is None:
            return None
        if self._fit is None:
            self._fit = self._estimate()
        if self._fit is None:
            return None
        period, offset = self._fit
        return offset + period * (self._index - self._position % TICKS_PER_BEAT)
