"""Live figures (level, BPM, key, beats) of watched streams, analysed off the event loop's thread.

Each watched stream has one task: verified PCM from ``LiveService.pcm`` goes through a
``LiveAnalyzer`` in a worker thread, and only the newest figures are kept. Readers (the TUI's
screens, the web overlay) poll them on their own timers, so a burst of chunks costs one
repaint, not one per chunk. One home for both, so they show the same figures.

``figures`` is a meter as JSON (the overlay's API, the control API's ``live_meters``), and
``Meter.show`` takes such figures back, for a UI attached to the node that measured them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from djmesh.node.clock import monotonic, sleep

if TYPE_CHECKING:
    from djmesh.dsp.live import LiveAnalyzer
    from djmesh.node.live.service import LiveService

log = logging.getLogger(__name__)

SAMPLE_RATE = 48_000
BEAT_FLASH_S = 0.15
PEAK_FALL_DB_PER_S = 12.0
RETRY_S = 3.0  # after a lost stream, until it is listened to again


@dataclass
class Meter:
    level_db: float = -90.0
    peak_db: float = -90.0
    bpm: float | None = None
    key: str | None = None
    camelot: str | None = None
    last_beat: float = 0.0
    streaming: bool = False
    error: str | None = None
    _peak_at: float = 0.0

    @property
    def beat(self) -> bool:
        return monotonic() - self.last_beat < BEAT_FLASH_S

    def apply(self, updates: list[Any]) -> None:
        from djmesh.dsp.live import BeatEvent, KeyUpdate, LevelUpdate, TempoUpdate  # scipy: not at node start

        now = monotonic()
        for update in updates:
            if isinstance(update, LevelUpdate):
                self.level_db = update.rms_db
                held = self.peak_db - PEAK_FALL_DB_PER_S * (now - self._peak_at)
                if update.peak_db >= held:
                    self.peak_db, self._peak_at = update.peak_db, now
            elif isinstance(update, TempoUpdate) and update.bpm > 0:
                self.bpm = update.bpm
            elif isinstance(update, KeyUpdate):
                self.key, self.camelot = update.key, update.camelot
            elif isinstance(update, BeatEvent):
                self.last_beat = now

    def show(self, data: dict[str, Any]) -> None:
        """Take the ``figures`` another process measured (a beat shown there flashes here from now)."""

        def number(name: str, default: float | None) -> float | None:
            value = data.get(name)
            return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else default

        self.level_db = number("level_db", -90.0) or -90.0
        self.peak_db = number("peak_db", -90.0) or -90.0
        self.bpm = number("bpm", None)
        self.key = data.get("key") if isinstance(data.get("key"), str) else None
        self.camelot = data.get("camelot") if isinstance(data.get("camelot"), str) else None
        self.streaming = data.get("streaming") is True
        self.error = data.get("error") if isinstance(data.get("error"), str) else None
        if data.get("beat") is True and not self.beat:
            self.last_beat = monotonic()


def figures(meter: Meter | None) -> dict[str, Any]:
    """A stream's live figures as JSON (nulls until the analysis has an estimate)."""
    if meter is None:
        return {
            "bpm": None,
            "key": None,
            "camelot": None,
            "level_db": -90.0,
            "peak_db": -90.0,
            "beat": False,
            "streaming": False,
            "error": None,
        }
    return {
        "bpm": round(meter.bpm, 1) if meter.bpm is not None else None,
        "key": meter.key,
        "camelot": meter.camelot,
        "level_db": round(meter.level_db, 1),
        "peak_db": round(meter.peak_db, 1),
        "beat": meter.beat,
        "streaming": meter.streaming,
        "error": meter.error,
    }


class _Analysis:
    """One stream's analyser, made from its first chunk and kept while the stream comes and goes."""

    def __init__(self) -> None:
        self._analyzer: LiveAnalyzer | None = None

    def feed(self, chunk: Any) -> list[Any]:
        from djmesh.dsp.live import LiveAnalyzer  # scipy: not at node start

        channels = chunk.shape[1] if chunk.ndim == 2 else 1
        if self._analyzer is None or self._analyzer.channels != channels:
            self._analyzer = LiveAnalyzer(SAMPLE_RATE, channels)
        return self._analyzer.feed(chunk)


class MeterBank:
    """One ``Meter`` per watched stream; ``watch`` is idempotent, ``close`` stops them all.

    A stream that stops reaching us while its DJ is still live (a relay gone, a payment late and
    the DJ cut us off) is listened to again every ``retry_s``; ``is_live`` says which streams are
    (``MeterBank.of`` asks the node's ``LiveService``). Without it, a stream ends when its audio
    does, and only an error is retried.
    """

    def __init__(
        self,
        pcm: Callable[[str], Any],
        alert: Callable[[str, str], None],
        *,
        is_live: Callable[[str], bool] | None = None,
        retry_s: float = RETRY_S,
    ) -> None:
        self._pcm = pcm
        self._alert = alert
        self._is_live = is_live
        self.retry_s = retry_s
        self.meters: dict[str, Meter] = {}
        self._tasks: dict[str, asyncio.Task[None]] = {}

    @classmethod
    def of(cls, live: LiveService, alert: Callable[[str, str], None]) -> MeterBank:
        """Meters of ``live``'s streams, listened to again while their DJs are live."""

        def is_live(stream_id: str) -> bool:
            return any(info.stream_id == stream_id and info.live for info in live.streams())

        return cls(live.pcm, alert, is_live=is_live)

    def watch(self, stream_id: str, label: str) -> Meter:
        meter = self.meters.setdefault(stream_id, Meter())
        if stream_id not in self._tasks:
            self._tasks[stream_id] = asyncio.ensure_future(self._run(stream_id, label, meter))
        return meter

    async def _run(self, stream_id: str, label: str, meter: Meter) -> None:
        """Analyse the stream until it ends; the user hears of the first loss only."""
        told = False
        analysis = _Analysis()  # kept across reconnections: a hiccup must not restart the tempo's history
        while True:
            why: str | None = None
            try:
                await self._analyse(stream_id, meter, analysis)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # a lost stream is news for the user, not a crash
                why = str(exc) or type(exc).__name__
            finally:
                meter.streaming = False
                meter.level_db = meter.peak_db = -90.0
            if self._is_live is None:
                if why is None:
                    return  # the audio ended: so did the stream
            else:
                await sleep(self.retry_s)  # its end may be on the way
                if not self._is_live(stream_id):
                    return
                why = why or "the stream stopped reaching us"
            meter.error = why
            log.info("stream %s of %s lost: %s", stream_id[:12], label, why)
            if not told:
                told = True
                self._alert("warning", f"Lost the stream of {label}: {why}")
            if self._is_live is None:
                await sleep(self.retry_s)

    async def _analyse(self, stream_id: str, meter: Meter, analysis: _Analysis) -> None:
        async for chunk in self._pcm(stream_id):
            meter.streaming, meter.error = True, None
            meter.apply(await asyncio.to_thread(analysis.feed, chunk))

    async def close(self) -> None:
        for task in self._tasks.values():
            task.cancel()
        for task in self._tasks.values():
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks.clear()
