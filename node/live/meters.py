"""Live figures (level, BPM, key, beats) of watched streams, analysed off the event loop's thread.

Each watched stream has one task: verified PCM from ``LiveService.pcm`` goes through a
``LiveAnalyzer`` in a worker thread, and only the newest figures are kept. Readers (the TUI's
screens, the web overlay) poll them on their own timers, so a burst of chunks costs one
repaint, not one per chunk. One home for both, so they show the same figures.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from djmesh.dsp import BeatEvent, KeyUpdate, LevelUpdate, LiveAnalyzer, TempoUpdate

log = logging.getLogger(__name__)

SAMPLE_RATE = 48_000
BEAT_FLASH_S = 0.15
PEAK_FALL_DB_PER_S = 12.0


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
        return time.monotonic() - self.last_beat < BEAT_FLASH_S

    def apply(self, updates: list[Any]) -> None:
        now = time.monotonic()
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


class MeterBank:
    """One ``Meter`` per watched stream; ``watch`` is idempotent, ``close`` stops them all."""

    def __init__(self, pcm: Callable[[str], Any], alert: Callable[[str, str], None]) -> None:
        self._pcm = pcm
        self._alert = alert
        self.meters: dict[str, Meter] = {}
        self._tasks: dict[str, asyncio.Task[None]] = {}

    def watch(self, stream_id: str, label: str) -> Meter:
        meter = self.meters.setdefault(stream_id, Meter())
        if stream_id not in self._tasks:
            self._tasks[stream_id] = asyncio.ensure_future(self._run(stream_id, label, meter))
        return meter

    async def _run(self, stream_id: str, label: str, meter: Meter) -> None:
        analyzer: LiveAnalyzer | None = None
        try:
            async for chunk in self._pcm(stream_id):
                if analyzer is None:
                    channels = chunk.shape[1] if chunk.ndim == 2 else 1
                    analyzer = LiveAnalyzer(SAMPLE_RATE, channels)
                meter.streaming = True
                meter.apply(await asyncio.to_thread(analyzer.feed, chunk))
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a lost stream is news for the user, not a crash
            meter.error = str(exc) or type(exc).__name__
            log.info("stream %s of %s lost: %s", stream_id[:12], label, meter.error)
            self._alert("warning", f"Lost the stream of {label}: {meter.error}")
        finally:
            meter.streaming = False
            meter.level_db = meter.peak_db = -90.0

    async def close(self) -> None:
        for task in self._tasks.values():
            task.cancel()
        for task in self._tasks.values():
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks.clear()
