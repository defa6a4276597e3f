"""A tone piped into a command's stdin as raw PCM, for the `--live -` / `live start -` tests."""

from __future__ import annotations

import threading
from typing import IO

import numpy as np

RATE = 44_100  # not the default 48 kHz: the user's ?rate= option must reach the node
SOURCE = f"stdin?rate={RATE}&channels=1"  # `-` with raw PCM options


def tone(seconds: float, hz: float = 440.0) -> bytes:
    """Raw s16le mono PCM at RATE."""
    t = np.arange(int(seconds * RATE)) / RATE
    return (np.sin(2 * np.pi * hz * t) * 12_000).astype("<i2").tobytes()


class ToneFeeder(threading.Thread):
    """Writes ``seconds`` of tone into ``stdin`` one second at a time (the reader paces it: real time for a node),
    fewer once ``stop()`` is called, then closes it (a reader that leaves early is fine)."""

    def __init__(self, stdin: IO[bytes], seconds: int) -> None:
        super().__init__(daemon=True)
        self.stdin, self.seconds = stdin, seconds
        self.seconds_written = 0
        self._stopping = threading.Event()

    def stop(self) -> None:
        """Write no more after the second being written, so the reader sees stdin end now."""
        self._stopping.set()

    def run(self) -> None:
        try:
            for _ in range(self.seconds):
                if self._stopping.is_set():
                    break
                self.stdin.write(tone(1.0))
                self.seconds_written += 1
            self.stdin.close()
        except (BrokenPipeError, ValueError):
            pass


def feed_tone(stdin: IO[bytes], seconds: int) -> ToneFeeder:
    """A started ``ToneFeeder``."""
    feeder = ToneFeeder(stdin, seconds)
    feeder.start()
    return feeder
