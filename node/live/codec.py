"""Opus at 48 kHz through PyAV (libopus): PCM in, packets out, and back.

PCM is float32 ``(samples, channels)`` everywhere outside this module, the shape
``djmesh.dsp.live.LiveAnalyzer.feed`` takes.
"""

from __future__ import annotations

from typing import Any

import av
import numpy as np
import numpy.typing as npt

from djmesh.protocol.stream import live_vbr_fits

SAMPLE_RATE = 48_000
PCM = npt.NDArray[np.float32]


def layout_name(channels: int) -> str:
    return "stereo" if channels == 2 else "mono"


class OpusEncoder:
    """Encodes s16 ``av.AudioFrame``s of exactly one frame each (960 samples at 20 ms).

    Every packet fits a frame datagram (``MAX_LIVE_OPUS_PACKET``) up to ``max_live_bitrate``: VBR where its
    peaks fit, a constant bitrate above that (VBR at 320 kbit/s made 1,276-byte packets, which no link carries).
    """

    def __init__(self, *, bitrate: int = 128_000, channels: int = 2, frame_ms: int = 20) -> None:
        self.frame_samples = SAMPLE_RATE * frame_ms // 1000
        self.vbr = live_vbr_fits(bitrate, frame_ms)
        self._pts = 0
        context: Any = av.CodecContext.create("libopus", "w")
        context.sample_rate = SAMPLE_RATE
        context.layout = layout_name(channels)
        context.format = "s16"
        context.bit_rate = bitrate
        context.options = {"frame_duration": str(frame_ms), "vbr": "on" if self.vbr else "off"}
        context.open()
        self._context = context

    def encode(self, frame: Any) -> list[bytes]:
        frame.pts = self._pts
        self._pts += frame.samples
        return [bytes(packet) for packet in self._context.encode(frame)]

    def flush(self) -> list[bytes]:
        return [bytes(packet) for packet in self._context.encode(None)]


class OpusDecoder:
    """Opus packets to float32 PCM; a lost packet becomes one frame of silence.

    An empty packet is taken as lost too: handed to FFmpeg it is the end of the stream, and every packet after it
    decoded to silence (one header-only datagram from a relay silenced a listener for good).
    """

    def __init__(self, *, channels: int = 2, frame_ms: int = 20) -> None:
        self.channels = channels
        self.frame_samples = SAMPLE_RATE * frame_ms // 1000
        context: Any = av.CodecContext.create("libopus", "r")
        context.sample_rate = SAMPLE_RATE
        context.layout = layout_name(channels)
        self._context = context

    def decode(self, payload: bytes | None) -> PCM:
        if not payload:
            return self.silence()
        try:
            frames = self._context.decode(av.Packet(payload))
        except (av.error.FFmpegError, ValueError):
            return self.silence()  # a payload that is not Opus: it failed verification anyway
        chunks = [_to_float(frame, self.channels) for frame in frames]
        if not chunks:
            return self.silence()
        return chunks[0] if len(chunks) == 1 else np.concatenate(chunks)

    def silence(self) -> PCM:
        return np.zeros((self.frame_samples, self.channels), np.float32)


def _to_float(frame: Any, channels: int) -> PCM:
    raw: npt.NDArray[Any] = frame.to_ndarray()
    data = raw.T if frame.format.is_planar else raw.reshape(-1, channels)
    if data.dtype == np.int16:
        return (data.astype(np.float32) / np.float32(32768.0)).astype(np.float32)
    return np.ascontiguousarray(data, dtype=np.float32)
