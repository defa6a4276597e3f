"""Writing decoded audio to a file, the format chosen by its extension (wav, ogg/opus, flac)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import av
import numpy as np

from djmesh.node.live.codec import PCM, SAMPLE_RATE, layout_name
from djmesh.node.live.errors import LiveError

_CODECS = {
    ".wav": ("wav", "pcm_s16le"),
    ".ogg": ("ogg", "libopus"),
    ".opus": ("ogg", "libopus"),
    ".flac": ("flac", "flac"),
}


class Recorder:
    def __init__(self, path: str | Path, *, channels: int = 2, bitrate: int = 128_000) -> None:
        self.path = Path(path)
        try:
            container_format, codec = _CODECS[self.path.suffix.lower()]
        except KeyError:
            raise LiveError(f"cannot record to {self.path.name}: use .wav, .ogg or .flac") from None
        self.channels = channels
        self.samples = 0
        try:
            self._container: Any = av.open(str(self.path), mode="w", format=container_format)
        except (av.error.FFmpegError, OSError) as exc:
            raise LiveError(f"cannot write {self.path}: {exc}") from exc
        stream: Any = self._container.add_stream(codec, rate=SAMPLE_RATE)
        stream.layout = layout_name(channels)
        if codec == "libopus":
            stream.bit_rate = bitrate
        self._stream = stream
        self._format = "s16" if codec != "libopus" else "flt"
        self._fifo = av.AudioFifo()
        self._chunk = 960 if codec == "libopus" else 0
        self._pts = 0

    def write(self, pcm: PCM) -> None:
        if self._container is None or pcm.size == 0:
            return
        data = np.clip(pcm, -1.0, 1.0)
        packed: np.ndarray[Any, Any] = (
            (data * 32767.0).astype(np.int16).reshape(1, -1)
            if self._format == "s16"
            else data.astype(np.float32).reshape(1, -1)
        )
        frame = av.AudioFrame.from_ndarray(packed, format=self._format, layout=layout_name(self.channels))
        frame.sample_rate = SAMPLE_RATE
        self.samples += pcm.shape[0]
        if self._chunk:
            frame.pts = None
            self._fifo.write(frame)
            while self._fifo.samples >= self._chunk:
                self._encode(self._fifo.read(self._chunk))
        else:
            self._encode(frame)

    def _encode(self, frame: Any) -> None:
        frame.pts = self._pts
        self._pts += frame.samples
        for packet in self._stream.encode(frame):
            self._container.mux(packet)

    def close(self) -> None:
        if self._container is None:
            return
        if self._chunk and self._fifo.samples:
            self._encode(self._fifo.read())
        for packet in self._stream.encode(None):
            self._container.mux(packet)
        self._container.close()
        self._container = None

    @property
    def seconds(self) -> float:
        return self.samples / SAMPLE_RATE
