"""Stateful framing of a sample stream into overlapping, centred analysis frames.

Both the offline path and the live path push arbitrary-sized chunks; frames come
out identically whatever the chunking, which keeps results independent of how
PyAV happens to packetise a file.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

F32 = npt.NDArray[np.float32]


class Framer:
    """Cut a stream into frames of ``size`` samples every ``hop``; frame i is centred on sample i*hop."""

    def __init__(self, size: int, hop: int) -> None:
        if size <= 0 or hop <= 0:
            raise ValueError("size and hop must be positive")
        self.size = size
        self.hop = hop
        self._buf = np.zeros(size // 2, np.float32)  # centred frames: pad half a frame before t=0
        self._consumed = 0  # samples pushed so far
        self._emitted = 0  # frames emitted so far

    @property
    def frames_emitted(self) -> int:
        return self._emitted

    def push(self, samples: F32) -> F32:
        """Add samples; return the complete frames now available as a (k, size) array."""
        if samples.size:
            self._buf = np.concatenate([self._buf, samples.astype(np.float32, copy=False)])
            self._consumed += samples.size
        return self._take()

    def finish(self) -> F32:
        """Flush: pad with zeros so every pushed sample has a frame centred at or after it."""
        needed_frames = -(-self._consumed // self.hop) if self._consumed else 0
        missing = needed_frames - self._emitted
        if missing <= 0:
            return np.zeros((0, self.size), np.float32)
        pad = (missing - 1) * self.hop + self.size - self._buf.size
        if pad > 0:
            self._buf = np.concatenate([self._buf, np.zeros(pad, np.float32)])
        out = self._take()
        return out[:missing]

    def _take(self) -> F32:
        n = self._buf.size
        if n < self.size:
            return np.zeros((0, self.size), np.float32)
        k = 1 + (n - self.size) // self.hop
        # A read-only strided view, not a copy: every consumer multiplies it by a window first, which
        # makes the one copy it needs (the buffer below is replaced, never written, so the view stays valid).
        frames = np.lib.stride_tricks.sliding_window_view(self._buf, self.size)[:: self.hop][:k]
        self._buf = self._buf[k * self.hop :].copy()
        self._emitted += k
        return frames
