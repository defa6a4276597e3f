"""Where played audio goes: a sound device where one exists, else nowhere (the null sink)."""

from __future__ import annotations

import logging
from typing import Any, Protocol

from djmesh.node.live.codec import PCM, SAMPLE_RATE

log = logging.getLogger(__name__)


class Sink(Protocol):
    def play(self, pcm: PCM) -> None: ...

    def close(self) -> None: ...


class NullSink:
    """Consumes audio at the pace it is played out; for headless nodes, tests and benchmarks."""

    def __init__(self) -> None:
        self.samples = 0

    def play(self, pcm: PCM) -> None:
        self.samples += pcm.shape[0]

    def skip(self, samples: int) -> None:
        """What ``play`` does with audio nobody hears, without the PCM: a headless listener need not decode."""
        self.samples += samples

    def close(self) -> None:
        pass


class DeviceSink:
    """sounddevice output (PortAudio); non-blocking writes, underruns are the device's problem."""

    def __init__(self, channels: int) -> None:
        import sounddevice  # type: ignore[import-untyped,import-not-found,unused-ignore]

        self._stream: Any = sounddevice.OutputStream(
            samplerate=SAMPLE_RATE, channels=channels, dtype="float32", latency="low"
        )
        self._stream.start()

    def play(self, pcm: PCM) -> None:
        if self._stream.write_available >= pcm.shape[0]:
            self._stream.write(pcm)

    def close(self) -> None:
        self._stream.stop()
        self._stream.close()


def default_sink(channels: int, *, device: bool = True) -> Sink:
    """A device sink when sounddevice is installed and finds an output device, else the null sink."""
    if device:
        try:
            return DeviceSink(channels)
        except Exception as exc:  # no module, no PortAudio, no device: all mean "headless"
            log.debug("no sound device (%s); using the null sink", exc)
    return NullSink()
