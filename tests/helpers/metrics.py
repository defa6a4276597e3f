"""Evaluation measures shared by the dsp tests and the accuracy benchmark."""

from __future__ import annotations

import numpy as np


def f_measure(est: np.ndarray, ref: np.ndarray, window: float = 0.07) -> float:
    """MIREX beat F-measure: one-to-one matches within +-70 ms."""
    used = np.zeros(est.size, bool)
    hits = 0
    for r in ref:
        d = np.abs(est - r)
        d[used] = np.inf
        if d.size and d.min() <= window:
            used[int(np.argmin(d))] = True
            hits += 1
    if hits == 0:
        return 0.0
    p, rc = hits / est.size, hits / ref.size
    return 2 * p * rc / (p + rc)
