"""EBU R128 / ITU-R BS.1770-4 loudness, true peak and clipping, computed while streaming.

K-weighting is derived for the file's own sample rate from the analog prototype
(bilinear transform), so no resampling touches the measurement. Only 100 ms
sub-block energies are kept (72 000 per channel for two hours).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

F32 = npt.NDArray[np.float32]
F64 = npt.NDArray[np.float64]

ABSOLUTE_GATE_LUFS = -70.0
RELATIVE_GATE_LU = -10.0
CLIP_LEVEL = 1.0 - 1e-4
_OVERSAMPLE = 4
_TAPS_PER_PHASE = 12
_CANDIDATE_RATIO = 10.0 ** (-3.0 / 20.0)


def k_weighting_sos(rate: int) -> F64:
    """Second-order sections of the BS.1770 pre-filter (high shelf) and RLB high-pass at ``rate``."""
    f0, gain_db, q = 1681.974450955533, 3.999843853973347, 0.7071752369554196
    k = math.tan(math.pi * f0 / rate)
    vh = 10.0 ** (gain_db / 20.0)
    vb = vh**0.4996667741545416
    a0 = 1.0 + k / q + k * k
    shelf = [
        (vh + vb * k / q + k * k) / a0,
        2.0 * (k * k - vh) / a0,
        (vh - vb * k / q + k * k) / a0,
        1.0,
        2.0 * (k * k - 1.0) / a0,
        (1.0 - k / q + k * k) / a0,
    ]
    f0, q = 38.13547087602444, 0.5003270373238773
    k = math.tan(math.pi * f0 / rate)
    a0 = 1.0 + k / q + k * k
    highpass = [1.0, -2.0, 1.0, 1.0, 2.0 * (k * k - 1.0) / a0, (1.0 - k / q + k * k) / a0]
    return np.array([shelf, highpass], dtype=np.float64)


def _oversampling_phases() -> F64:
    """Polyphase 4x interpolation filter (Kaiser-windowed sinc), one row per fractional phase."""
    n = _OVERSAMPLE * _TAPS_PER_PHASE
    centre = (n - 1) / 2.0
    t = (np.arange(n) - centre) / _OVERSAMPLE
    h = np.sinc(t) * np.kaiser(n, 7.0)
    phases = h.reshape(_TAPS_PER_PHASE, _OVERSAMPLE).T  # phases[p][j] = h[j*4 + p]
    return np.asarray(phases / phases.sum(axis=1, keepdims=True), dtype=np.float64)


@dataclass(frozen=True)
class LoudnessResult:
    integrated_lufs: float  # -inf when everything is gated (silence)
    true_peak_dbtp: float
    sample_peak: float
    clipped_fraction: float
    #: (second, clipped samples in it) for every second that clipped, in time order
    clipped_seconds: tuple[tuple[int, int], ...] = ()


class LoudnessMeter:
    """Feed (channels, n) float32 blocks at the native rate; read ``result()`` at the end."""

    def __init__(self, rate: int, channels: int) -> None:
        if channels not in (1, 2):
            raise ValueError("LoudnessMeter takes mono or stereo")
        self.rate = rate
        self.channels = channels
        from . import peaks  # numba loads here, not for every importer of k_weighting_sos (the live meter)

        self._loops = peaks
        self._sos = k_weighting_sos(rate).astype(np.float32)
        self._state = np.zeros((channels, self._sos.shape[0], 2), dtype=np.float32)
        self._sub_len = max(1, round(rate * 0.1))
        self._carry = np.zeros(0, dtype=np.float32)
        self._subblocks: list[F64] = []
        self._reversed_phases = np.ascontiguousarray(_oversampling_phases()[:, ::-1])
        self._tp_hist = np.zeros((channels, _TAPS_PER_PHASE - 1), dtype=np.float32)
        self._true_peak = 0.0
        self._sample_peak = 0.0
        self._clipped = 0
        self._clipped_seconds: dict[int, int] = {}
        self._total = 0
        self._frames = 0

    def push(self, block: npt.NDArray[Any], scale: float = 1.0) -> None:
        """Samples are (channels, n) float32, or integers (a WAV file's) that times ``scale`` are."""
        if block.shape[1] == 0:
            return
        if block.dtype not in (np.int16, np.int32):
            block, scale = np.asarray(block, dtype=np.float32), 1.0
        factor = np.float32(scale)
        # float32 filtering (sums stay float64): 1e-7 relative error is far below the 0.01 LU reported.
        # Per sample and channel the compiled loop does what scipy's sosfilt does; both channels'
        # powers are summed as BS.1770 asks (both weights are 1.0). It finds the sample peak too.
        power = np.empty(block.shape[1], np.float32)
        peak = self._loops.kweighted_power(block, factor, self._sos, self._state, power)
        self._peaks(block, factor, peak)
        if self._carry.size:
            power = np.concatenate([self._carry, power])
        k = power.size // self._sub_len
        if k:
            subs = power[: k * self._sub_len].reshape(k, self._sub_len).mean(axis=1, dtype=np.float64)
            self._subblocks.append(subs)
        self._carry = power[k * self._sub_len :].copy()

    def _peaks(self, block: npt.NDArray[Any], scale: np.float32, peak: float) -> None:
        """Sample peak, clipping and true peak of a block whose own sample peak is ``peak``."""
        keep = _TAPS_PER_PHASE - 1
        hist = self._tp_hist
        self._tp_hist = np.concatenate([hist, _floats(block[:, -keep:], scale)], axis=1)[:, -keep:]
        self._sample_peak = max(self._sample_peak, peak)
        if peak >= CLIP_LEVEL:
            first, n = self._frames, block.shape[1]
            seconds = np.zeros((first + n - 1) // self.rate - first // self.rate + 1)
            clip = np.float32(CLIP_LEVEL)
            self._clipped += self._loops.clipped_samples(block, scale, clip, first, self.rate, seconds)
            for offset in np.flatnonzero(seconds):
                second = first // self.rate + int(offset)
                self._clipped_seconds[second] = self._clipped_seconds.get(second, 0) + int(seconds[offset])
        self._total += block.size
        self._frames += block.shape[1]
        # An inter-sample peak sits next to a sample that is a local maximum of |x|, and rises
        # less than 3 dB above it in real audio (even clipped masters): interpolating only the
        # two gaps beside local maxima within 3 dB of the running true peak gives the 4x
        # oversampled true peak of BS.1770 at a small fraction of its cost.
        # Samples with a whole window on both sides are [half, keep + n - half) of history + block:
        # the first few reach into the history (a small joined copy), the rest lie in the block.
        threshold = np.float32(max(self._true_peak, peak) * _CANDIDATE_RATIO)
        head = np.concatenate([hist, _floats(block[:, :_TAPS_PER_PHASE], scale)], axis=1)
        one = np.float32(1.0)
        found = max(
            self._loops.interpolated_peak(head, one, threshold, self._reversed_phases),
            self._loops.interpolated_peak(block, scale, threshold, self._reversed_phases),
        )
        self._true_peak = max(self._true_peak, peak, found)

    def result(self) -> LoudnessResult:
        sub = np.concatenate([*self._subblocks, np.zeros(0)])
        if self._carry.size >= self._sub_len // 2:  # keep a final partial sub-block if at least half full
            sub = np.append(sub, self._carry.mean(dtype=np.float64))
        sub = sub.reshape(-1, 1)
        lufs = integrated_loudness(sub)
        tp = 20.0 * math.log10(self._true_peak) if self._true_peak > 0 else -math.inf
        clipped = self._clipped / self._total if self._total else 0.0
        seconds = tuple(sorted(self._clipped_seconds.items()))
        return LoudnessResult(lufs, tp, self._sample_peak, clipped, seconds)


def _floats(samples: npt.NDArray[Any], scale: np.float32) -> F32:
    """The float32 samples behind ``samples`` (cast, then times ``scale`` in float32)."""
    out: F32 = np.multiply(samples, scale, dtype=np.float32)
    return out


def integrated_loudness(subblocks: F64) -> float:
    """Gated integrated loudness from (n, channels) 100 ms mean squares (channel weights 1.0)."""
    if subblocks.shape[0] < 4:
        return -math.inf
    per_sub = subblocks.sum(axis=1)
    csum = np.concatenate([[0.0], np.cumsum(per_sub)])
    blocks = (csum[4:] - csum[:-4]) / 4.0  # 400 ms blocks, 75 % overlap
    with np.errstate(divide="ignore"):
        lk = -0.691 + 10.0 * np.log10(blocks)
    gated = blocks[lk > ABSOLUTE_GATE_LUFS]
    if gated.size == 0:
        return -math.inf
    rel = -0.691 + 10.0 * math.log10(float(gated.mean())) + RELATIVE_GATE_LU
    final = blocks[lk > max(rel, ABSOLUTE_GATE_LUFS)]
    if final.size == 0:
        return -math.inf
    return -0.691 + 10.0 * math.log10(float(final.mean()))
