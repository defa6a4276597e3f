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


def feed_tone(stdin: IO[bytes], seconds: int) -> threading.Thread:
    """A thread writing ``seconds`` of tone into ``stdin``, then closing it (a reader that leaves early is fine)."""

    def feed() -> None:
        try:
            for _ in range(seconds):
                stdin.write(tone(1.0))
            stdin.close()
        except (BrokenPipeError, ValueError):
            pass

    feeder = threading.Thread(target=feed, daemon=True)
    feeder.start()
    return feeder
