"""Hearing the DJ you watch: volume and mute applied to the samples on their way to the sink.

The sink is the node's (``default_sink``): a sound device through sounddevice where one exists,
else the null sink, which swallows audio at playout pace. Volume and mute act on the samples
either way, so what a device would play is what the tests check. ``find_output`` says which it
is before anything plays, so the Battle screen can say so.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np

from djmesh.node.live.codec import PCM
from djmesh.node.live.device_queue import DeviceQueue
from djmesh.node.live.sinks import NullSink, Sink, default_sink

VOLUME_STEP = 0.1


@dataclass
class Volume:
    """What the user set; ``gain`` is what multiplies the samples."""

    level: float = 0.8
    muted: bool = False

    @property
    def gain(self) -> float:
        return 0.0 if self.muted else self.level

    def louder(self) -> None:
        self.level = min(1.0, round(self.level + VOLUME_STEP, 2))

    def quieter(self) -> None:
        self.level = max(0.0, round(self.level - VOLUME_STEP, 2))

    def toggle_mute(self) -> None:
        self.muted = not self.muted

    def label(self) -> str:
        return "muted" if self.muted else f"vol {round(self.level * 100)}%"


class VolumeSink:
    """A ``Sink`` that scales each chunk by the current gain before the real sink plays it.

    The real sink is opened on the first chunk, when the channel count is known.
    """

    def __init__(self, volume: Volume, open_sink: Callable[[int], Sink] = default_sink) -> None:
        self.volume = volume
        self._open_sink = open_sink
        self.inner: Sink | None = None
        self.samples = 0
        self.last_gain: float | None = None
        self.closed = False

    @property
    def device(self) -> bool:
        """True when a sound device plays the audio (False: the null sink)."""
        return self.inner is not None and not isinstance(self.inner, NullSink)

    @property
    def device_queue(self) -> DeviceQueue | None:
        return None if self.inner is None else self.inner.device_queue

    def play(self, pcm: PCM) -> None:
        if self.closed:
            return
        if self.inner is None:
            self.inner = self._open_sink(pcm.shape[1] if pcm.ndim == 2 else 1)
        gain = self.volume.gain
        self.last_gain = gain
        self.samples += pcm.shape[0]
        if gain == 1.0:
            self.inner.play(pcm)
        elif gain == 0.0:
            self.inner.play(np.zeros_like(pcm))
        else:
            self.inner.play((pcm * np.float32(gain)).astype(pcm.dtype, copy=False))

    def close(self) -> None:
        """Idempotent: the listen session closes it when the stream ends, we close it when we stop."""
        if self.inner is not None and not self.closed:
            self.inner.close()
        self.closed = True


@dataclass(frozen=True)
class Output:
    """Where heard audio goes: a sound device (its name), or nowhere and why."""

    device: str | None
    why_not: str = ""


def find_output() -> Output:
    """The default output device, asked of PortAudio (blocking: run it in a thread).

    PortAudio's host APIs (ALSA) complain on fd 2 when they find no card; that would scribble
    over a full-screen UI, so fd 2 is silenced while it looks.
    """
    with _quiet_stderr():
        try:
            import sounddevice  # type: ignore[import-untyped,import-not-found,unused-ignore]
        except (ImportError, OSError) as exc:  # the module, or the PortAudio library, is missing
            return Output(None, f"sounddevice cannot load: {exc}")
        try:
            found = sounddevice.query_devices(kind="output")
        except Exception as exc:  # PortAudioError: no default output
            return Output(None, str(exc) or type(exc).__name__)
    name = found.get("name") if isinstance(found, dict) else None
    return Output(str(name or "default output"))


@contextlib.contextmanager
def _quiet_stderr() -> Iterator[None]:
    try:
        saved = os.dup(2)
    except OSError:
        yield
        return
    try:
        with open(os.devnull, "wb") as null:
            os.dup2(null.fileno(), 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
