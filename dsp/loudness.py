"""EBU R128 / ITU-R BS.1770-4 loudness, true peak and clipping, computed while streaming.

K-weighting is derived for the file's own sample rate from the analog prototype
(bilinear transform), so no resampling touches the measurement. Only 100 ms
sub-block energies are kept (72 000 per channel for two hours).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy.signal import sosfilt

F32 = npt.NDArray[np.float32]
F64 = npt.NDArray[np.float64]

ABSOLUTE_GATE_LUFS = -70.0
RELATIVE_GATE_LU = -10.0
CLIP_LEVEL = 1.0 - 1e-4
_OVERSAMPLE = 4
_TAPS_PER_PHASE = 12


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
    return phases / phases.sum(axis=1, keepdims=True)


@dataclass(frozen=True)
class LoudnessResult:
    integrated_lufs: float  # -inf when everything is gated (silence)
    true_peak_dbtp: float
    sample_peak: float
    clipped_fraction: float


class LoudnessMeter:
    """Feed (channels, n) float32 blocks at the native rate; read ``result()`` at the end."""

    def __init__(self, rate: int, channels: int) -> None:
        self.rate = rate
        self.channels = channels
        self._sos = k_weighting_sos(rate)
        self._zi = np.zeros((channels, self._sos.shape[0], 2), dtype=np.float64)
        self._sub_len = max(1, round(rate * 0.1))
        self._acc = np.zeros(channels, dtype=np.float64)
        self._acc_n = 0
        self._subblocks: list[F64] = []
        self._phases = _oversampling_phases()
        self._tp_hist = np.zeros((channels, _TAPS_PER_PHASE - 1), dtype=np.float32)
        self._true_peak = 0.0
        self._sample_peak = 0.0
        self._clipped = 0
        self._total = 0

    def push(self, block: F32) -> None:
        if block.shape[1] == 0:
            return
        self._peaks(block)
        filtered = np.empty(block.shape, dtype=np.float64)
        for ch in range(self.channels):
            filtered[ch], self._zi[ch] = sosfilt(self._sos, block[ch].astype(np.float64), zi=self._zi[ch])
        sq = np.square(filtered)
        pos = 0
        n = sq.shape[1]
        while pos < n:
            take = min(self._sub_len - self._acc_n, n - pos)
            self._acc += sq[:, pos : pos + take].sum(axis=1)
            self._acc_n += take
            pos += take
            if self._acc_n == self._sub_len:
                self._subblocks.append(self._acc / self._sub_len)
                self._acc = np.zeros(self.channels, dtype=np.float64)
                self._acc_n = 0

    def _peaks(self, block: F32) -> None:
        absb = np.abs(block)
        peak = float(absb.max())
        self._sample_peak = max(self._sample_peak, peak)
        self._clipped += int(np.count_nonzero(absb >= CLIP_LEVEL))
        self._total += absb.size
        ext = np.concatenate([self._tp_hist, block], axis=1)
        self._tp_hist = ext[:, -(_TAPS_PER_PHASE - 1) :].copy()
        # Inter-sample peaks more than 6 dB above both neighbours do not occur in real audio;
        # interpolating only around loud samples keeps true peak exact in practice and cheap.
        threshold = max(self._true_peak, peak) * 0.5
        absext = np.abs(ext)
        half = _TAPS_PER_PHASE // 2
        loud = np.flatnonzero(absext[:, half - 1 : ext.shape[1] - half].max(axis=0) >= threshold) + half - 1
        self._true_peak = max(self._true_peak, peak)
        if loud.size == 0:
            return
        idx = loud[:, None] + np.arange(-half + 1, half + 1)[None, :]  # windows ending after the gap
        for ch in range(self.channels):
            win = ext[ch][idx].astype(np.float64)  # (m, taps)
            for p in range(1, _OVERSAMPLE):
                vals = (win * self._phases[p][::-1]).sum(axis=1)
                self._true_peak = max(self._true_peak, float(np.abs(vals).max()))

    def result(self) -> LoudnessResult:
        if self._acc_n >= self._sub_len // 2:  # keep a final partial sub-block if at least half full
            self._subblocks.append(self._acc / self._acc_n)
        sub = np.array(self._subblocks, dtype=np.float64).reshape(-1, self.channels)
        lufs = integrated_loudness(sub)
        tp = 20.0 * math.log10(self._true_peak) if self._true_peak > 0 else -math.inf
        clipped = self._clipped / self._total if self._total else 0.0
        return LoudnessResult(lufs, tp, self._sample_peak, clipped)


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
