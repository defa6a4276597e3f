"""One streaming pass from PCM to every frame-level feature the analysis needs.

Decoded blocks go through the onset, texture and loudness front ends and are
dropped; only compact features survive (about 1 MB per hour of audio), which is
what keeps a two-hour mix far below the memory budget.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import av
import numpy as np
import numpy.typing as npt

from . import beats
from .decode import ANALYSIS_RATE, PcmBlock
from .loudness import LoudnessMeter, LoudnessResult
from .onset import FRAME_RATE as ONSET_RATE
from .onset import OnsetFrontend
from .texture import FRAME_RATE as TEXTURE_RATE
from .texture import TextureFrontend

F32 = npt.NDArray[np.float32]
F64 = npt.NDArray[np.float64]


@dataclass
class Features:
    """Frame-level features of one input; onset at ONSET_RATE, texture at TEXTURE_RATE."""

    sample_rate: int
    channels: int
    n_samples: int
    broad: F32
    low: F32
    high: F32
    chroma: F32
    timbre: F32
    rms: F32
    loudness: LoudnessResult

    @property
    def duration(self) -> float:
        return self.n_samples / self.sample_rate if self.sample_rate else 0.0

    @functools.cached_property
    def broad64(self) -> F64:
        """``broad`` in float64, made once: every track's beat grid is fitted over the whole mix's."""
        return self.broad.astype(np.float64)

    @functools.cached_property
    def low64(self) -> F64:
        """``low`` in float64, made once (see ``broad64``)."""
        return self.low.astype(np.float64)

    @functools.cached_property
    def chroma_sums(self) -> F64:
        """``beats.chroma_sums`` of ``chroma``, made once: every track's bar cue reads it."""
        return beats.chroma_sums(self.chroma)

    onset_rate: float = ONSET_RATE
    texture_rate: float = TEXTURE_RATE


class FeatureExtractor:
    """Push PcmBlocks, then ``finish()`` once."""

    def __init__(self, sample_rate: int, channels: int) -> None:
        self.sample_rate = sample_rate
        self.channels = channels
        self._onset = OnsetFrontend()
        self._texture = TextureFrontend()
        self._meter = LoudnessMeter(sample_rate, channels)
        self._n = 0
        self._broad: list[F32] = []
        self._low: list[F32] = []
        self._high: list[F32] = []
        self._chroma: list[F32] = []
        self._timbre: list[F32] = []
        self._rms: list[F32] = []
        self._pending: list[F32] = []
        self._pending_native: list[tuple[npt.NDArray[Any], float]] = []
        self._pending_n = 0

    def push(self, block: PcmBlock) -> None:
        # Packets are small (often 1024 samples); batching ~2 s keeps per-call overhead negligible.
        self._n += block.native.shape[1]
        if block.native.shape[1]:
            self._pending_native.append((block.native, block.scale))
        if block.mono.size:
            self._pending.append(block.mono)
            self._pending_n += block.mono.size
        if self._pending_n >= 2 * ANALYSIS_RATE:
            self._flush_pending()

    def _flush_pending(self) -> None:
        if self._pending_native:
            parts, scales = zip(*self._pending_native, strict=True)
            if len({(p.dtype, s) for p, s in self._pending_native}) > 1:  # formats changed mid-stream
                parts = tuple(
                    np.multiply(p, np.float32(s), dtype=np.float32) for p, s in self._pending_native
                )
                scales = (1.0,)
            self._meter.push(np.concatenate(parts, axis=1), scales[0])
            self._pending_native = []
        if not self._pending:
            return
        mono = np.concatenate(self._pending)
        self._pending, self._pending_n = [], 0
        o = self._onset.push(mono)
        t = self._texture.push(mono)
        self._keep(o.broad, o.low, o.high, t.chroma, t.timbre, t.rms)

    def _keep(self, broad: F32, low: F32, high: F32, chroma: F32, timbre: F32, rms: F32) -> None:
        self._broad.append(broad)
        self._low.append(low)
        self._high.append(high)
        self._chroma.append(chroma)
        self._timbre.append(timbre)
        self._rms.append(rms)

    def finish(self) -> Features:
        self._flush_pending()
        o = self._onset.finish()
        t = self._texture.finish()
        self._keep(o.broad, o.low, o.high, t.chroma, t.timbre, t.rms)
        return Features(
            sample_rate=self.sample_rate,
            channels=self.channels,
            n_samples=self._n,
            broad=np.concatenate(self._broad),
            low=np.concatenate(self._low),
            high=np.concatenate(self._high),
            chroma=np.concatenate(self._chroma),
            timbre=np.concatenate(self._timbre),
            rms=np.concatenate(self._rms),
            loudness=self._meter.result(),
        )


def extract(blocks: Iterable[PcmBlock], sample_rate: int, channels: int) -> Features:
    fx = FeatureExtractor(sample_rate, channels)
    for block in blocks:
        fx.push(block)
    return fx.finish()


PCM_BLOCK = 65536  # samples per block of in-memory PCM: a feature pass's result depends on this cut


def _resampler() -> av.AudioResampler:
    return av.AudioResampler(format="flt", layout="mono", rate=ANALYSIS_RATE)


def _block(resampler: av.AudioResampler, native: F32, sample_rate: int) -> PcmBlock:
    """One (channels, n) float32 slice as a decoded file's block: resampled to mono at ANALYSIS_RATE."""
    frame = av.AudioFrame.from_ndarray(
        native, format="fltp", layout="mono" if native.shape[0] == 1 else "stereo"
    )
    frame.sample_rate = sample_rate
    mono = [f.to_ndarray().reshape(-1) for f in resampler.resample(frame)]
    return PcmBlock(native, np.concatenate(mono) if mono else np.zeros(0, np.float32))


def _tail(resampler: av.AudioResampler, channels: int) -> PcmBlock | None:
    """What the resampler still holds at the end of the input."""
    tail = [f.to_ndarray().reshape(-1) for f in resampler.resample(None)]
    return PcmBlock(np.zeros((channels, 0), np.float32), np.concatenate(tail)) if tail else None


def pcm_blocks(samples: F32, sample_rate: int, block: int = PCM_BLOCK) -> Iterable[PcmBlock]:
    """Blocks from an in-memory (n,) or (n, channels) float array, resampled like a decoded file."""
    arr = np.asarray(samples, dtype=np.float32)
    if arr.ndim == 1:
        arr = arr[:, None]
    if arr.shape[1] > 2:
        arr = np.stack([arr[:, 0::2].mean(axis=1), arr[:, 1::2].mean(axis=1)], axis=1).astype(np.float32)
    resampler = _resampler()
    for i in range(0, arr.shape[0], block):
        yield _block(resampler, np.ascontiguousarray(arr[i : i + block].T), sample_rate)
    tail = _tail(resampler, arr.shape[1])
    if tail is not None:
        yield tail


class PcmFeed:
    """``extract(pcm_blocks(samples, rate), rate, 1)`` of mono PCM that arrives in pieces, in order: each
    whole block goes through the resampler and the extractor as soon as it is here, so at the end only
    the last block is left to do, and the features are the same, bit for bit (the same blocks through
    the same steps). ``limit``: the input will be cut there; no block past it is pushed early."""

    def __init__(self, sample_rate: int, limit: int | None = None) -> None:
        self.sample_rate = sample_rate
        self.limit = limit
        self._resampler = _resampler()
        self._extractor = FeatureExtractor(sample_rate, 1)
        self._held: list[F32] = []
        self._held_n = 0
        self.pushed = 0  # samples gone through as whole blocks

    def feed(self, mono: F32) -> None:
        if mono.size == 0:
            return
        self._held.append(np.asarray(mono, dtype=np.float32).reshape(-1))
        self._held_n += mono.size
        while self._held_n >= PCM_BLOCK and (self.limit is None or self.pushed + PCM_BLOCK <= self.limit):
            held = np.concatenate(self._held)
            self._push(held[:PCM_BLOCK])
            self._held, self._held_n = [held[PCM_BLOCK:]], held.size - PCM_BLOCK

    def _push(self, samples: F32) -> None:
        self._extractor.push(
            _block(self._resampler, np.ascontiguousarray(samples[None, :]), self.sample_rate)
        )
        self.pushed += samples.size

    @property
    def fed(self) -> int:
        return self.pushed + self._held_n

    def finish(self, n_samples: int) -> Features:
        """The features of the first ``n_samples`` fed (the whole input, as cut), once."""
        if not self.pushed <= n_samples <= self.fed:
            raise ValueError(
                f"{n_samples} samples asked of a feed that pushed {self.pushed}, holds {self.fed}"
            )
        rest = (
            np.concatenate(self._held)[: n_samples - self.pushed] if self._held else np.zeros(0, np.float32)
        )
        self._held, self._held_n = [], 0
        if rest.size:
            self._push(rest)
        tail = _tail(self._resampler, 1)
        if tail is not None:
            self._extractor.push(tail)
        return self._extractor.finish()
