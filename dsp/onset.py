"""Onset strength: log-compressed band-wise spectral flux at 100 frames/s.

Three envelopes come out: ``broad`` (all bands, equal weight per band on a
log-frequency axis), ``low`` (kick range, below ~190 Hz) and ``high`` (hats and
cymbals, above 4 kHz). The low envelope is what lets the beat tracker put beats on
the kick rather than on off-beat hi-hats; the high one helps tell drum patterns apart.
Bands are contiguous FFT-bin ranges summed with ``np.add.reduceat`` so no BLAS
kernel (and so no thread-count dependence) enters the result. FFTs use scipy.fft
(pocketfft, one worker), whose per-row result is bit-identical however the rows are batched.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import scipy.fft

from .decode import ANALYSIS_RATE
from .framing import Framer

F32 = npt.NDArray[np.float32]

N_FFT = 512
HOP = 240
FRAME_RATE = ANALYSIS_RATE / HOP  # 100.0 frames per second (512-sample window: 21 ms)
LOW_CUTOFF_HZ = 190.0
HIGH_CUTOFF_HZ = 4000.0
# Log compression gain: band magnitudes this far above zero count; quieter detail is noise.
_GAIN = 1000.0


def _band_starts(
    n_bins: int, rate: int, n_fft: int, f_lo: float, f_hi: float, n_bands: int
) -> npt.NDArray[np.intp]:
    """Start bin of each log-spaced band, every band at least one bin wide."""
    edges_hz = np.geomspace(f_lo, f_hi, n_bands + 1)
    bins = np.unique(np.clip(np.round(edges_hz * n_fft / rate).astype(np.intp), 1, n_bins - 1))
    return bins


@functools.lru_cache(maxsize=1)
def band_counts() -> tuple[int, int, int]:
    """(bands in ``broad``, bands in ``low``, bands in ``high``): the band means' weights."""
    n_bins = N_FFT // 2 + 1
    starts = _band_starts(n_bins, ANALYSIS_RATE, N_FFT, 30.0, 11000.0, 40)
    centres = starts * ANALYSIS_RATE / N_FFT
    n_low = max(1, int(np.count_nonzero(centres < LOW_CUTOFF_HZ)))
    first_high = min(len(starts) - 1, int(np.count_nonzero(centres < HIGH_CUTOFF_HZ)))
    return len(starts), n_low, len(starts) - first_high


@dataclass
class OnsetFrames:
    """Onset envelopes for a run of frames."""

    broad: F32
    low: F32
    high: F32  # hats and cymbals (above 4 kHz): tells drum patterns apart for segmentation


class OnsetFrontend:
    """Streaming spectral-flux onset detector over mono ANALYSIS_RATE audio."""

    def __init__(self) -> None:
        self._framer = Framer(N_FFT, HOP)
        self._window = np.hanning(N_FFT).astype(np.float32)
        n_bins = N_FFT // 2 + 1
        self._starts = _band_starts(n_bins, ANALYSIS_RATE, N_FFT, 30.0, 11000.0, 40)
        self._last_bin = int(self._starts[-1])
        centres = self._starts * ANALYSIS_RATE / N_FFT
        self._n_low = max(1, int(np.count_nonzero(centres < LOW_CUTOFF_HZ)))
        self._first_high = min(len(self._starts) - 1, int(np.count_nonzero(centres < HIGH_CUTOFF_HZ)))
        widths = np.diff(np.append(self._starts, n_bins)).astype(np.float32)
        self._inv_width = (1.0 / widths).astype(np.float32)
        self._prev: F32 | None = None

    def push(self, mono: F32) -> OnsetFrames:
        return self._process(self._framer.push(mono))

    def finish(self) -> OnsetFrames:
        return self._process(self._framer.finish())

    def _process(self, frames: F32) -> OnsetFrames:
        if frames.shape[0] == 0:
            empty = np.zeros(0, np.float32)
            return OnsetFrames(empty, empty, empty)
        mag = np.abs(scipy.fft.rfft(frames * self._window, axis=1)).astype(np.float32, copy=False)
        bands = np.add.reduceat(mag, self._starts, axis=1) * self._inv_width
        logb = np.log1p(_GAIN * bands).astype(np.float32)
        prev = logb[:1] if self._prev is None else self._prev
        diff = np.diff(np.concatenate([prev, logb]), axis=0)
        np.maximum(diff, 0.0, out=diff)
        self._prev = logb[-1:].copy()
        broad = diff.mean(axis=1, dtype=np.float32)
        low = diff[:, : self._n_low].mean(axis=1, dtype=np.float32)
        high = diff[:, self._first_high :].mean(axis=1, dtype=np.float32)
        return OnsetFrames(broad, low, high)
