"""``midi map``: the ``djmesh`` input drives a running node (mapped actions, declared tempo).

The node is reached through its control API (``call(method, **params)``), so the MIDI bridge
is a separate process and the node never depends on a MIDI library.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from djmesh.node.clock import monotonic
from djmesh.node.errors import NodeError
from djmesh.node.midi.clock import ClockState
from djmesh.node.midi.mapping import Binding, Mapping
from djmesh.node.midi.monitor import ControlEvent, MidiMonitor

log = logging.getLogger(__name__)

Call = Callable[..., Awaitable[Any]]
HEARTBEAT_S = 5.0
MIN_CHANGE_BPM = 0.1


@dataclass
class TempoDeclarer:
    """When to tell the node the tempo: first reading, a change, start/stop, and a heartbeat."""

    heartbeat_s: float = HEARTBEAT_S
    min_change_bpm: float = MIN_CHANGE_BPM
    _last: tuple[float, bool] | None = None
    _last_at: float = 0.0

    def due(self, state: ClockState, now: float) -> float | None:
        """The bpm to declare now, or None."""
        if state.bpm is None:
            return None
        bpm = round(state.bpm, 2)
        last = self._last
        if (
            last is None
            or last[1] != state.running
            or abs(last[0] - bpm) >= self.min_change_bpm
            or now - self._last_at >= self.heartbeat_s
        ):
            self._last, self._last_at = (bpm, state.running), now
            return bpm
        return None


async def run_action(call: Call, binding: Binding) -> Any:
    """Carry out one mapped action through the node's control API; returns its result."""
    params = binding.params
    if binding.action == "track_change":
        return await call("live_cue", title=params.get("title", ""))
    if binding.action == "react":
        target = params.get("target", "live")
        if target == "live":
            streams = await call("live_streams")
            others = [s for s in streams if s["live"] and not s["local"]]
            if not others:
                raise NodeError("react: no other DJ is live to react to")
            target = others[0]["stream_id"]
        return await call("react", id=target, emoji=params["emoji"])
    if binding.action == "set_start":
        return await call(
            "live_start",
            source=params["source"],
            title=params.get("title"),
            bitrate=params.get("bitrate", 128_000),
        )
    if binding.action == "set_end":
        return await call("live_stop")
    if binding.action == "post":
        return await call("post", text=params["text"])
    if binding.action == "chat":
        return await call("chat", room=params["room"], text=params["text"])
    raise NodeError(f"unknown action {binding.action}")


@dataclass
class BridgeReport:
    actions: int = 0
    failed: int = 0
    declared: int = 0


async def run_bridge(
    mapping: Mapping,
    call: Call,
    open_input: Callable[[Callable[[Any, float], None]], Any],
    *,
    seconds: float | None,
    emit: Callable[[dict[str, Any]], None],
    tick_s: float = 0.25,
) -> tuple[MidiMonitor, BridgeReport]:
    """Run until ``seconds`` pass (or forever); ``emit`` gets one dict per action and declaration."""
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[ControlEvent] = asyncio.Queue(maxsize=1024)

    def hand_over(event: ControlEvent) -> None:
        with contextlib.suppress(RuntimeError):  # the loop closed while the port was still open
            loop.call_soon_threadsafe(_offer, queue, event)

    monitor = MidiMonitor(on_event=hand_over)
    port = open_input(monitor.on_message)
    report = BridgeReport()
    declarer = TempoDeclarer()
    deadline = None if seconds is None else monotonic() + seconds
    try:
        while deadline is None or monotonic() < deadline:
            timeout = tick_s if deadline is None else max(0.0, min(tick_s, deadline - monotonic()))
            try:
                event = await asyncio.wait_for(queue.get(), timeout)
            except TimeoutError:
                event = None
            if event is not None:
                for binding in _matches(mapping, event):
                    await _act(call, binding, event, report, emit)
            if mapping.declare_tempo:
                await _declare(call, monitor, declarer, report, emit)
    finally:
        port.close()
    return monitor, report


def _offer(queue: asyncio.Queue[ControlEvent], event: ControlEvent) -> None:
    try:
        queue.put_nowait(event)
    except asyncio.QueueFull:
        log.warning("midi: dropped %s (the node is not keeping up)", event.describe())


def _matches(mapping: Mapping, event: ControlEvent) -> list[Binding]:
    if event.kind == "note":
        return mapping.on_note(event.channel, event.number, event.value)
    return mapping.on_cc(event.channel, event.number, event.value)


async def _act(
    call: Call,
    binding: Binding,
    event: ControlEvent,
    report: BridgeReport,
    emit: Callable[[dict[str, Any]], None],
) -> None:
    report.actions += 1
    line: dict[str, Any] = {"event": "action", "trigger": event.describe(), "action": binding.action}
    try:
        line["result"] = await run_action(call, binding)
        line["ok"] = True
    except (NodeError, OSError) as exc:
        report.failed += 1
        line.update(ok=False, error=str(exc))
    emit(line)


async def _declare(
    call: Call,
    monitor: MidiMonitor,
    declarer: TempoDeclarer,
    report: BridgeReport,
    emit: Callable[[dict[str, Any]], None],
) -> None:
    state = monitor.state()
    bpm = declarer.due(state, monotonic())
    if bpm is None:
        return
    try:
        result = await call("live_tempo", bpm=bpm, running=state.running, beat_us=monitor.beat_wall_us())
    except (NodeError, OSError) as exc:
        emit({"event": "tempo", "bpm": bpm, "running": state.running, "ok": False, "error": str(exc)})
        return
    if result.get("streams"):
        report.declared += 1
        emit(
            {"event": "tempo", "bpm": bpm, "running": state.running, "ok": True, "streams": result["streams"]}
        )
