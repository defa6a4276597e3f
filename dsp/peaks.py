"""Compiled sample loops of the loudness meter: K-weighted power and 4x true peak.

These are the only per-sample loops of the analysis (2.6 million samples a minute at
44.1 kHz stereo). They do exactly the float operations, in exactly the order, of the
numpy/scipy code they replace (``scipy.signal.sosfilt`` in float32, numpy's pairwise sum
of twelve float64 products), so the analysis JSON keeps its bytes; numba compiles them
once per machine (cached next to this file) and never reorders or fuses float math
without ``fastmath``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
from numba import njit

F32 = npt.NDArray[np.float32]
F64 = npt.NDArray[np.float64]


@njit(cache=True, nogil=True)
def kweighted_power(
    x: npt.NDArray[Any], scale: np.float32, sos: F32, state: F32, power: F32
) -> float:  # pragma: no cover - compiled
    """power[i] = sum over channels of K-weighted x[c, i] squared, through the two sections of ``sos``;
    ``state`` (channels, 2, 2) carries the filters across calls (direct form II transposed, as sosfilt).
    The filter state lives in locals so the recursion never waits on memory. Returns max |x| (the
    block's sample peak), found in the same pass. Samples are ``float32(x) * scale``: float32 ones
    with scale 1.0, or the integers a WAV file holds with their scale (no float copy is made)."""
    channels, n = x.shape
    b00, b01, b02, a01, a02 = sos[0, 0], sos[0, 1], sos[0, 2], sos[0, 4], sos[0, 5]
    b10, b11, b12, a11, a12 = sos[1, 0], sos[1, 1], sos[1, 2], sos[1, 4], sos[1, 5]
    l00, l01, l10, l11 = state[0, 0, 0], state[0, 0, 1], state[0, 1, 0], state[0, 1, 1]
    # Peaks are kept with selects, not branches: a branch in the loop costs a seventh of its time.
    left_peak = np.float32(0.0)
    if channels == 1:
        for i in range(n):
            cur = np.float32(x[0, i]) * scale
            level = abs(cur)
            left_peak = level if level > left_peak else left_peak
            mid = b00 * cur + l00
            l00 = b01 * cur - a01 * mid + l01
            l01 = b02 * cur - a02 * mid
            out = b10 * mid + l10
            l10 = b11 * mid - a11 * out + l11
            l11 = b12 * mid - a12 * out
            power[i] = out * out
        state[0, 0, 0], state[0, 0, 1], state[0, 1, 0], state[0, 1, 1] = l00, l01, l10, l11
        return float(left_peak)
    # both channels in one loop, step by step side by side: two independent recursions overlap (written
    # out: the same steps through an inlined one-section helper ran 9 % slower, 6.04 -> 6.59 ns a frame)
    r00, r01, r10, r11 = state[1, 0, 0], state[1, 0, 1], state[1, 1, 0], state[1, 1, 1]
    right_peak = np.float32(0.0)
    for i in range(n):
        cur_l = np.float32(x[0, i]) * scale
        cur_r = np.float32(x[1, i]) * scale
        level_l, level_r = abs(cur_l), abs(cur_r)
        left_peak = level_l if level_l > left_peak else left_peak
        right_peak = level_r if level_r > right_peak else right_peak
        mid_l = b00 * cur_l + l00
        mid_r = b00 * cur_r + r00
        l00 = b01 * cur_l - a01 * mid_l + l01
        r00 = b01 * cur_r - a01 * mid_r + r01
        l01 = b02 * cur_l - a02 * mid_l
        r01 = b02 * cur_r - a02 * mid_r
        left = b10 * mid_l + l10
        right = b10 * mid_r + r10
        l10 = b11 * mid_l - a11 * left + l11
        r10 = b11 * mid_r - a11 * right + r11
        l11 = b12 * mid_l - a12 * left
        r11 = b12 * mid_r - a12 * right
        power[i] = left * left + right * right
    state[0, 0, 0], state[0, 0, 1], state[0, 1, 0], state[0, 1, 1] = l00, l01, l10, l11
    state[1, 0, 0], state[1, 0, 1], state[1, 1, 0], state[1, 1, 1] = r00, r01, r10, r11
    return float(left_peak if left_peak > right_peak else right_peak)


@njit(cache=True, nogil=True)
def clipped_samples(
    block: npt.NDArray[Any], scale: np.float32, clip: np.float32, first: int, rate: int, per_second: F64
) -> int:  # pragma: no cover
    """Samples (all channels) at or above ``clip``; adds each to ``per_second[(first + i) // rate]``."""
    channels, n = block.shape
    count = 0
    for i in range(n):
        for c in range(channels):
            if abs(np.float32(block[c, i]) * scale) >= clip:
                count += 1
                per_second[(first + i) // rate - (first // rate)] += 1.0
    return count


@njit(cache=True, nogil=True, inline="always")
def _level(ext: npt.NDArray[Any], i: int, scale: np.float32) -> np.float32:  # pragma: no cover - compiled
    """The loudest channel's |x| at sample ``i``."""
    v = abs(np.float32(ext[0, i]) * scale)
    for c in range(1, ext.shape[0]):
        w = abs(np.float32(ext[c, i]) * scale)
        if w > v:
            v = w
    return np.float32(v)


#: samples per stretch that ``interpolated_peak`` first checks for any sample at the threshold at all
_STRETCH = 64


@njit(cache=True, nogil=True)
def interpolated_peak(
    ext: npt.NDArray[Any], scale: np.float32, threshold: np.float32, reversed_phases: F64
) -> float:  # pragma: no cover
    """Largest |4x interpolated value| in the two gaps beside each local maximum of the loudest
    channel's |x| at or above ``threshold`` that has a whole filter window on both sides (0.0 if none).

    Most stretches of music stay below the threshold (3 dB under the running peak): a first pass
    over each stretch asks only whether any sample reaches it, a loop the compiler runs on
    several samples at once, and only stretches that do are searched for local maxima."""
    channels, n = ext.shape
    phases, taps = reversed_phases.shape
    half = taps // 2
    best = 0.0
    for first in range(half, n - half, _STRETCH):
        stop = min(first + _STRETCH, n - half)
        loudest = np.float32(0.0)
        for c in range(channels):
            for j in range(first, stop):
                level = abs(np.float32(ext[c, j]) * scale)
                loudest = level if level > loudest else loudest
        if not loudest >= threshold:
            continue
        previous, current = _level(ext, first - 1, scale), _level(ext, first, scale)
        for j in range(first, stop):
            following = _level(ext, j + 1, scale)
            apex = current >= threshold and current >= previous and current >= following
            previous, current = current, following
            if not apex:
                continue
            for c in range(channels):
                for start in (j - half, j - half + 1):  # the windows of the gaps (j - 1, j) and (j, j + 1)
                    for p in range(phases):
                        total = abs(_dot12(ext, scale, c, start, reversed_phases, p))
                        if total > best:
                            best = total
    return best


@njit(cache=True, nogil=True, inline="always")
def _dot12(
    ext: npt.NDArray[Any], scale: np.float32, c: int, start: int, h: F64, p: int
) -> float:  # pragma: no cover - compiled
    """sum(ext[c, start:start + 12] * h[p]) in float64, in numpy's pairwise order for twelve values
    (eight partial sums combined as a tree, then the last four added in turn)."""
    x = ext[c]
    res = (
        (
            np.float64(np.float32(x[start]) * scale) * h[p, 0]
            + np.float64(np.float32(x[start + 1]) * scale) * h[p, 1]
        )
        + (
            np.float64(np.float32(x[start + 2]) * scale) * h[p, 2]
            + np.float64(np.float32(x[start + 3]) * scale) * h[p, 3]
        )
    ) + (
        (
            np.float64(np.float32(x[start + 4]) * scale) * h[p, 4]
            + np.float64(np.float32(x[start + 5]) * scale) * h[p, 5]
        )
        + (
            np.float64(np.float32(x[start + 6]) * scale) * h[p, 6]
            + np.float64(np.float32(x[start + 7]) * scale) * h[p, 7]
        )
    )
    res += np.float64(np.float32(x[start + 8]) * scale) * h[p, 8]
    res += np.float64(np.float32(x[start + 9]) * scale) * h[p, 9]
    res += np.float64(np.float32(x[start + 10]) * scale) * h[p, 10]
    res += np.float64(np.float32(x[start + 11]) * scale) * h[p, 11]
    return float(res)
