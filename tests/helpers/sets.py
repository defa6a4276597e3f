"""Set files for battle tests: a short real WAV and a TOML tracklist naming it."""

from __future__ import annotations

import wave
from pathlib import Path

import numpy as np

RATE = 48_000


def write_wav(path: Path, seconds: float, bpm: float = 125.0) -> Path:
    """A mono click track (a kick-like blip on every beat)."""
    samples = np.zeros(int(seconds * RATE), np.float32)
    t = np.arange(2400) / RATE
    blip = 0.8 * np.sin(2 * np.pi * 60 * t) * np.exp(-t * 40)
    for start in range(0, samples.size - blip.size, int(RATE * 60 / bpm)):
        samples[start : start + blip.size] += blip
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(RATE)
        out.writeframes((np.clip(samples, -1, 1) * 32767).astype("<i2").tobytes())
    return path


def write_set(folder: Path, name: str = "set", seconds: float = 12.0) -> Path:
    """``folder/name.toml``: three tracks over ``folder/name.wav``."""
    folder.mkdir(parents=True, exist_ok=True)
    write_wav(folder / f"{name}.wav", seconds)
    toml = folder / f"{name}.toml"
    toml.write_text(
        f'source = "{name}.wav"\n'
        '[[tracks]]\ntitle = "Opener"\ncue = 0\n'
        '[[tracks]]\ntitle = "Roller"\ncue = "0:04"\n'
        '[[tracks]]\ntitle = "Closer"\ncue = 8.5\n',
        encoding="utf-8",
    )
    return toml
