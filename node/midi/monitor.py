"""What arrives on the ``djmesh`` input: clock (tempo, transport, phase), notes and CCs.

``on_message`` runs on the MIDI input's thread; it takes each message with its arrival time and hands
notes and CCs on through ``on_event`` (for example into an asyncio queue).
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from djmesh.node.midi.clock import CLOCK, CONTINUE, SONG_POSITION, START, STOP, ClockState, ClockTracker

_TRANSPORT = {"clock": CLOCK, "start": START, "continue": CONTINUE, "stop": STOP}


@dataclass(frozen=True)
class ControlEvent:
    """A note-on or a control change (channel 0..15, as on the wire)."""

    kind: str  # "note" or "cc"
    channel: int
    number: int
    value: int

    def describe(self) -> str:
        label = "note" if self.kind == "note" else "cc"
        return f"ch{self.channel + 1} {label} {self.number} = {self.value}"


class MidiMonitor:
    def __init__(
        self,
        tracker: ClockTracker | None = None,
        *,
        on_event: Callable[[ControlEvent], None] | None = None,
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        self.tracker = tracker or ClockTracker()
        self.on_event = on_event
        self._clock = clock
        self._lock = threading.Lock()
        self.notes: Counter[tuple[int, int]] = Counter()
        self.ccs: dict[tuple[int, int], int] = {}
        self.transport: Counter[str] = Counter()

    def on_message(self, message: Any, at: float | None = None) -> None:
        """One message; ``at`` is when it arrived on this monitor's clock (default: now)."""
        now = self._clock() if at is None else at
        kind = message.type
        event: ControlEvent | None = None
        with self._lock:
            if kind in _TRANSPORT:
                self.tracker.feed(_TRANSPORT[kind], now)
                if kind != "clock":
                    self.transport[kind] += 1
            elif kind == "songpos":
                self.tracker.feed(SONG_POSITION, now, (message.pos & 0x7F, message.pos >> 7))
            elif kind == "note_on" and message.velocity > 0:
                self.notes[(message.channel, message.note)] += 1
                event = ControlEvent("note", message.channel, message.note, message.velocity)
            elif kind == "control_change":
                self.ccs[(message.channel, message.control)] = message.value
                event = ControlEvent("cc", message.channel, message.control, message.value)
        if event is not None and self.on_event is not None:
            self.on_event(event)

    def state(self) -> ClockState:
        with self._lock:
            return self.tracker.state(self._clock())

    def beat_wall_us(self) -> int | None:
        """When the latest beat began, in wall-clock us (the capture clock of live frames)."""
        with self._lock:
            beat = self.tracker.beat_time()
        if beat is None:
            return None
        return int((time.time() - (self._clock() - beat)) * 1_000_000)

    def summary(self) -> dict[str, Any]:
        """The monitor's JSON: ``bpm`` (the last tempo measured, 0.0 if no clock came) and ``running``."""
        with self._lock:
            state = self.tracker.state(self._clock())
            last = self.tracker.last_bpm
            return {
                "bpm": round(last, 3) if last is not None else 0.0,
                "running": state.running,
                "clock": state.alive,
                "ticks": state.ticks,
                "beat": round(state.beat, 3) if state.beat is not None else None,
                "phase": round(state.phase, 3) if state.phase is not None else None,
                "transport": dict(self.transport),
                "notes": {f"ch{c + 1}/{n}": count for (c, n), count in sorted(self.notes.items())},
                "ccs": {f"ch{c + 1}/{n}": value for (c, n), value in sorted(self.ccs.items())},
            }
