"""Slow spectral features at 5 frames/s: chroma for key, timbre bands for segmentation.

A long window (8192 samples at 24 kHz, 2.9 Hz bins) resolves semitones down to
~60 Hz, where bass lines carry much of the key in electronic music. Bins are
grouped into semitones and bands by contiguous ranges (``np.add.reduceat``),
never by matrix products, so results do not depend on the BLAS build.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import scipy.fft

from .decode import ANALYSIS_RATE
from .framing import Framer

F32 = npt.NDArray[np.float32]

N_FFT = 8192
HOP = 4800
FRAME_RATE = ANALYSIS_RATE / HOP  # 5.0 frames per second
MIDI_LO = 33  # A1, 55 Hz
MIDI_HI = 108  # C8, ~4.2 kHz (harmonics of notes up to C6)
N_TIMBRE = 16


@dataclass
class TextureFrames:
    """``chroma`` (k, 12) with C at index 0; ``timbre`` (k, N_TIMBRE) log band energies; ``rms`` (k,)."""

    chroma: F32
    timbre: F32
    rms: F32


def _semitone_layout(n_bins: int) -> tuple[int, int, npt.NDArray[np.intp], npt.NDArray[np.intp]]:
    """Bin range covering MIDI_LO..MIDI_HI, reduceat starts per semitone and the pitch class of each."""
    freqs = np.arange(n_bins) * ANALYSIS_RATE / N_FFT
    with np.errstate(divide="ignore"):
        midi = np.where(freqs > 0, 69.0 + 12.0 * np.log2(np.maximum(freqs, 1e-9) / 440.0), -1.0)
    nearest = np.round(midi).astype(np.intp)
    first = int(np.argmax(nearest >= MIDI_LO))
    last = int(np.argmax(nearest > MIDI_HI))
    seg = nearest[first:last]
    change = np.flatnonzero(np.diff(seg)) + 1
    starts = np.concatenate([[0], change]).astype(np.intp)
    return first, last, starts, seg[starts].astype(np.intp)


class TextureFrontend:
    """Streaming chroma + timbre extractor over mono ANALYSIS_RATE audio."""

    def __init__(self) -> None:
        self._framer = Framer(N_FFT, HOP)
        self._window = np.hanning(N_FFT).astype(np.float32)
        n_bins = N_FFT // 2 + 1
        self._first, self._last, self._semi_starts, semi_midi = _semitone_layout(n_bins)
        self._semi_pc = semi_midi % 12
        edges = np.geomspace(40.0, 11000.0, N_TIMBRE + 1) * N_FFT / ANALYSIS_RATE
        self._timbre_starts = np.round(edges[:-1]).astype(np.intp)
        self._timbre_stop = int(round(edges[-1]))
        widths = np.diff(np.append(self._timbre_starts, self._timbre_stop)).astype(np.float32)
        self._timbre_inv_width = 1.0 / widths
        self._norm = float(np.sum(self._window))

    def push(self, mono: F32) -> TextureFrames:
        return self._process(self._framer.push(mono))

    def finish(self) -> TextureFrames:
        return self._process(self._framer.finish())

    def _process(self, frames: F32) -> TextureFrames:
        k = frames.shape[0]
        if k == 0:
            return TextureFrames(
                np.zeros((0, 12), np.float32), np.zeros((0, N_TIMBRE), np.float32), np.zeros(0, np.float32)
            )
        spec = np.abs(scipy.fft.rfft(frames * self._window, axis=1)).astype(
            np.float32, copy=False
        ) / np.float32(self._norm)
        # Only spectral peaks count: the window's main lobe would otherwise leak bass notes into
        # neighbouring semitones (bins are 2.9 Hz, a semitone at 70 Hz is 4 Hz wide).
        band = spec[:, self._first - 1 : self._last + 1]
        peaks = (band[:, 1:-1] >= band[:, :-2]) & (band[:, 1:-1] > band[:, 2:])
        semis = np.add.reduceat(np.where(peaks, band[:, 1:-1], 0.0), self._semi_starts, axis=1)
        # Harmonic summation: a note's salience adds its 2nd-4th harmonics (+12, +19, +24 semitones),
        # so the fifth that every bass harmonic series carries does not outvote the root.
        n_pitch = semis.shape[1] - 24
        sal = semis[:, :n_pitch].copy()
        for offset, weight in ((12, 0.5), (19, 0.33), (24, 0.25)):
            sal += weight * semis[:, offset : offset + n_pitch]
        sal = np.maximum(sal - 0.5 * semis[:, :n_pitch], 0.0)
        chroma = np.zeros((k, 12), np.float32)
        for pc in range(12):
            cols = np.flatnonzero(self._semi_pc[:n_pitch] == pc)
            chroma[:, pc] = sal[:, cols].sum(axis=1)
        bands = np.add.reduceat(spec[:, : self._timbre_stop], self._timbre_starts, axis=1)
        timbre = np.log10(1e-7 + bands * self._timbre_inv_width).astype(np.float32)
        rms = np.sqrt(np.mean(np.square(frames[:, N_FFT // 2 - HOP // 2 : N_FFT // 2 + HOP // 2]), axis=1))
        return TextureFrames(chroma, timbre, rms.astype(np.float32))
