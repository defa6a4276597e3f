"""Streaming decode through PyAV.

Audio is never held whole: each decoded packet is converted to float32 twice,
once at the native rate and channel count (loudness, true peak and clipping must
see the signal as delivered) and once as mono at the fixed internal analysis rate
(everything rhythmic and tonal), then handed on and forgotten.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import av
import numpy as np
import numpy.typing as npt

from .errors import AnalysisError

#: Internal analysis rate; 24 kHz with a 240-sample hop gives exactly 100 frames/s.
ANALYSIS_RATE = 24000

F32 = npt.NDArray[np.float32]


@dataclass(frozen=True)
class PcmBlock:
    """One decoded slice: ``native`` is (channels, n) at the file's rate, ``mono`` float32 at ANALYSIS_RATE.

    ``native`` holds float32 samples, or (``scale`` != 1.0) the integers of an interleaved PCM file as
    read, each sample being ``float32(value) * float32(scale)``: the meter reads them without a
    float copy of the whole file passing through memory.
    """

    native: npt.NDArray[Any]
    mono: F32
    scale: float = 1.0


@dataclass(frozen=True)
class StreamInfo:
    """What the container says about the audio stream; ``duration`` (s) is None where it does not say."""

    sample_rate: int
    channels: int
    codec: str
    duration: float | None = None


def _is_url(path: str) -> bool:
    return "://" in path and path.split("://", 1)[0] in {"http", "https", "ftp", "rtmp", "rtsp"}


def _open(path: str) -> av.container.InputContainer:
    if not _is_url(path):
        if not os.path.exists(path):
            raise AnalysisError(f"file does not exist: {path}")
        if os.path.isdir(path):
            raise AnalysisError(f"is a directory, not an audio file: {path}")
        if os.path.getsize(path) == 0:
            raise AnalysisError(f"file is empty: {path}")
    try:
        return av.open(path, mode="r", timeout=30.0, options=_WAV_OPTIONS if _is_wav(path) else {})
    except av.error.InvalidDataError as exc:
        raise AnalysisError(f"not a decodable audio file: {path}") from exc
    except (av.error.FFmpegError, OSError) as exc:
        raise AnalysisError(f"cannot open {path}: {exc.__class__.__name__}: {_first_line(exc)}") from exc


#: WAV is demuxed in 4 KiB packets by default; 256 KiB ones cut per-frame overhead 4x. The header
#: says everything, so probing stops at once (big packets would otherwise make probing slow).
_WAV_OPTIONS = {"max_size": "262144", "probesize": "32"}


def _is_wav(path: str) -> bool:
    if _is_url(path):
        return False
    try:
        with open(path, "rb") as f:
            head = f.read(12)
    except OSError:
        return False
    return len(head) == 12 and head[:4] in (b"RIFF", b"RF64") and head[8:12] == b"WAVE"


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else exc.__class__.__name__


def _layout_for(channels: int) -> str:
    # Surround is folded to stereo: BS.1770 surround weights are not worth the complexity here.
    return "mono" if channels == 1 else "stereo"


class Decoder:
    """Iterate PCM blocks of one input; ``info`` is valid after construction."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._container = _open(path)
        streams = self._container.streams.audio
        if not streams:
            self._container.close()
            raise AnalysisError(f"not an audio file (no audio stream): {path}")
        self._stream = streams[0]
        rate = int(self._stream.rate or 0)
        channels = int(self._stream.channels or 0)
        if rate <= 0 or channels <= 0:
            self._container.close()
            raise AnalysisError(f"audio stream without sample rate or channels: {path}")
        out_channels = 1 if channels == 1 else 2
        self.info = StreamInfo(rate, out_channels, self._stream.codec_context.name, self._duration())
        self._native = av.AudioResampler(format="fltp", layout=_layout_for(channels), rate=rate)
        self._mono = av.AudioResampler(format="flt", layout="mono", rate=ANALYSIS_RATE)

    def _duration(self) -> float | None:
        seconds = 0.0
        if self._stream.duration and self._stream.time_base:
            seconds = float(self._stream.duration * self._stream.time_base)
        elif self._container.duration:
            seconds = self._container.duration / av.time_base
        return seconds if math.isfinite(seconds) and seconds > 0 else None

    def blocks(self) -> Iterator[PcmBlock]:
        """Yield blocks until the stream ends; raises AnalysisError for corrupt data."""
        try:
            try:
                for frame in self._container.decode(self._stream):
                    frame.pts = None  # some demuxers give unusable pts; the resampler must not care
                    yield self._convert(frame)
            except av.error.FFmpegError as exc:
                raise AnalysisError(
                    f"corrupt or unsupported audio in {self.path}: {_first_line(exc)}"
                ) from exc
            yield self._convert(None)
        finally:
            self._container.close()

    def _convert(self, frame: av.AudioFrame | None) -> PcmBlock:
        mono = [f.to_ndarray().reshape(-1) for f in self._mono.resample(frame)]
        raw = _raw_native(frame, self.info.channels) if frame is not None else None
        if raw is not None:
            return PcmBlock(raw[0], _joined(mono, (0,)), raw[1])
        direct = _direct_native(frame, self.info.channels) if frame is not None else None
        native = [direct] if direct is not None else [f.to_ndarray() for f in self._native.resample(frame)]
        return PcmBlock(_joined(native, (self.info.channels, 0)), _joined(mono, (0,)))


def _joined(parts: list[npt.NDArray[Any]], empty: tuple[int, ...]) -> F32:
    """The parts one after the other along the last axis, as float32; a single part is not copied."""
    if not parts:
        return np.zeros(empty, np.float32)
    if len(parts) == 1:
        return parts[0].astype(np.float32, copy=False)
    return np.concatenate(parts, axis=-1).astype(np.float32, copy=False)


_SCALE = {
    "s16": 1.0 / 32768.0,
    "s16p": 1.0 / 32768.0,
    "s32": 1.0 / 2147483648.0,
    "s32p": 1.0 / 2147483648.0,
    "flt": 1.0,
    "fltp": 1.0,
    "dbl": 1.0,
    "dblp": 1.0,
}


#: interleaved integer formats read as they are (numpy dtype in native byte order, as FFmpeg stores them)
_RAW: dict[str, type[np.signedinteger[Any]]] = {"s16": np.int16, "s32": np.int32}


def _raw_native(frame: av.AudioFrame, channels: int) -> tuple[npt.NDArray[Any], float] | None:
    """The samples of an interleaved integer frame as (channels, n), read in place, and their scale."""
    name = frame.format.name
    if name not in _RAW or len(frame.layout.channels) != channels:
        return None
    count = frame.samples * channels
    plane = memoryview(frame.planes[0])  # AudioPlane has the buffer protocol
    values = np.frombuffer(plane, dtype=_RAW[name], count=count).reshape(-1, channels).T
    return values, _SCALE[name]


def _direct_native(frame: av.AudioFrame, channels: int) -> F32 | None:
    """Convert common sample formats with numpy instead of a resampler pass (a third of decode time)."""
    name = frame.format.name
    if name not in _SCALE or len(frame.layout.channels) != channels:
        return None
    arr = frame.to_ndarray()
    if not frame.format.is_planar:
        arr = arr.reshape(-1, channels).T
    out = arr.astype(np.float32)
    if _SCALE[name] != 1.0:
        out *= np.float32(_SCALE[name])
    return out
