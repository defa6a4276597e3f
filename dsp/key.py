"""Musical key over 24 keys from a chroma profile, with Camelot notation.

Each candidate key is scored by the Pearson correlation of the track's chroma with
rotated key profiles. Three profile sets are offered: ``krumhansl`` (probe-tone
ratings, classical), ``temperley`` (corpus statistics, pop/rock) and ``edm``
(tonic/fifth heavy, Aeolian minor: electronic music rarely uses the raised
leading tone). The default ``mixed`` averages ``edm`` and ``temperley``
correlations, which holds up on both dance and other material.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

F64 = npt.NDArray[np.float64]

PITCH_NAMES = ("C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B")

PROFILES: dict[str, tuple[tuple[float, ...], tuple[float, ...]]] = {
    "krumhansl": (
        (6.35, 2.23, 3.48, 2.33, 4.38, 4.09, 2.52, 5.19, 2.39, 3.66, 2.29, 2.88),
        (6.33, 2.68, 3.52, 5.38, 2.60, 3.53, 2.54, 4.75, 3.98, 2.69, 3.34, 3.17),
    ),
    "temperley": (
        (0.748, 0.060, 0.488, 0.082, 0.670, 0.460, 0.096, 0.715, 0.104, 0.366, 0.057, 0.400),
        (0.712, 0.084, 0.474, 0.618, 0.049, 0.460, 0.105, 0.747, 0.404, 0.067, 0.133, 0.330),
    ),
    "edm": (
        (1.00, 0.10, 0.42, 0.10, 0.60, 0.45, 0.10, 0.80, 0.10, 0.40, 0.12, 0.30),
        (1.00, 0.10, 0.40, 0.62, 0.10, 0.45, 0.10, 0.80, 0.52, 0.10, 0.45, 0.12),
    ),
}
#: Added to minor-key scores of profile sets with ``edm`` in them: most electronic tracks are in minor
#: keys, and Aeolian progressions (i-VI-VII) otherwise tie with their relative major.
MINOR_BIAS = 0.015
PROFILE_SETS: dict[str, tuple[str, ...]] = {
    "mixed": ("edm", "temperley"),
    "edm": ("edm",),
    "temperley": ("temperley",),
    "krumhansl": ("krumhansl",),
}


@dataclass(frozen=True)
class KeyEstimate:
    tonic: int  # pitch class, C = 0
    minor: bool
    confidence: float  # 0..1

    @property
    def name(self) -> str:
        return f"{PITCH_NAMES[self.tonic]} {'minor' if self.minor else 'major'}"

    @property
    def camelot(self) -> str:
        return camelot(self.tonic, self.minor)


def camelot(tonic: int, minor: bool) -> str:
    """Camelot wheel code: C major = 8B, A minor = 8A, a fifth up = +1."""
    ref = 9 if minor else 0
    number = (8 + 7 * (tonic - ref)) % 12 or 12
    return f"{number}{'A' if minor else 'B'}"


@functools.cache
def _templates(name: str) -> tuple[F64, F64]:
    """The 24 rotated profiles of ``name`` (major tonics, then minor), each minus its own mean, and
    each one's sum of squares: the half of every correlation that is the same for every chroma."""
    rows = []
    for profile in PROFILES[name]:
        values = np.asarray(profile, dtype=np.float64)
        for tonic in range(12):
            rotated = np.roll(values, tonic)
            rows.append(rotated - rotated.mean())
    centred = np.stack(rows)
    squares = np.array([np.sum(row * row) for row in centred])
    centred.flags.writeable = False
    squares.flags.writeable = False
    return centred, squares


def key_scores(chroma: F64, profile: str = "mixed") -> F64:
    """(24,) Pearson correlations: index tonic for major, 12 + tonic for minor."""
    names = PROFILE_SETS.get(profile)
    if names is None:
        raise ValueError(f"unknown key profile: {profile}")
    a = chroma - chroma.mean()
    aa = np.sum(a * a)
    scores = np.zeros(24)
    for name in names:
        centred, squares = _templates(name)
        den = np.sqrt(aa * squares)
        # each row's sum runs over its own 12 products, in the order np.sum of one row takes
        products = np.sum(a[None, :] * centred, axis=1)
        with np.errstate(divide="ignore", invalid="ignore"):
            scores += np.where(den == 0, 0.0, products / den)
    scores /= len(names)
    if "edm" in names:
        scores[12:] += MINOR_BIAS
    return scores


#: a key gives way to its relative when the relative's tonic triad is heard in this much more of the frames
TONIC_MARGIN = 0.1


@functools.cache
def _triads() -> F64:
    """(24, 12) the major then minor tonic triads on every pitch class, each minus its mean."""
    major = np.zeros(12)
    major[[0, 4, 7]] = 1.0
    minor = np.zeros(12)
    minor[[0, 3, 7]] = 1.0
    templates = np.stack([np.roll(major, t) for t in range(12)] + [np.roll(minor, t) for t in range(12)])
    templates -= templates.mean(axis=1, keepdims=True)
    templates.flags.writeable = False
    return templates


def tonal(peaks: F64) -> npt.NDArray[np.bool_]:
    """Which frames (by their chroma peaks) carry tonal content: within 60 dB of the loudest."""
    return np.asarray(peaks > 1e-3 * max(float(peaks.max()), 1e-12))


def tonic_triad_shares(frames: npt.NDArray[np.float32]) -> F64:
    """(24,) share of tonal frames whose best-matching triad is each key's tonic triad (major
    tonic, then minor tonic). A profile alone cannot tell a key from its relative (C major and
    A minor use the same notes); which of the two triads the music dwells on can."""
    out = np.zeros(24)
    if frames.size == 0:
        return out
    f = frames.astype(np.float64)
    peak = f.max(axis=1)
    ok = tonal(peak)
    if not np.any(ok):
        return out
    f = f[ok] / peak[ok][:, None]
    templates = _triads()
    centred = f - f.mean(axis=1, keepdims=True)
    # per frame and template, a sum over 12 products in a fixed order (no BLAS)
    fit = np.zeros((f.shape[0], 24))
    for pc in range(12):
        fit += centred[:, pc : pc + 1] * templates[:, pc][None, :]
    best = np.argmax(fit, axis=1)
    counts = np.bincount(best, minlength=24).astype(np.float64)
    return np.asarray(counts / counts.sum(), dtype=np.float64)


def estimate_key(chroma: F64, profile: str = "mixed", triads: F64 | None = None) -> KeyEstimate | None:
    """Best key for a 12-bin chroma (C first), or None when there is no tonal content.

    ``triads`` (``tonic_triad_shares`` of the frames) adds evidence of which chord is home."""
    if chroma.shape != (12,) or not np.all(np.isfinite(chroma)) or float(chroma.max()) <= 0:
        return None
    if float(chroma.max() - chroma.min()) <= 1e-9 * float(chroma.max()):
        return None
    scores = key_scores(chroma, profile)
    if triads is not None and triads.shape == (24,):
        # only between a key and its relative (same notes): the one whose tonic chord sounds more
        top = int(np.argmax(scores))
        rel = (top % 12 + 9) % 12 + 12 if top < 12 else (top % 12 + 3) % 12
        if triads[rel] > triads[top] + TONIC_MARGIN:
            scores = scores.copy()
            scores[rel] = scores[top] + 1e-6  # a near tie: the confidence says so
    order = np.argsort(-scores, kind="stable")
    best, second = float(scores[order[0]]), float(scores[order[1]])
    # confidence: correlation strength times the margin over the runner-up
    conf = max(0.0, best) * min(1.0, 5.0 * max(0.0, best - second) + 0.5 * max(0.0, best))
    idx = int(order[0])
    return KeyEstimate(idx % 12, idx >= 12, float(min(1.0, conf)))


def summarise_chroma(frames: npt.NDArray[np.float32]) -> F64:
    """Track-level chroma: per-frame chroma normalised to its maximum, then summed."""
    if frames.size == 0:
        return np.zeros(12)
    f = frames.astype(np.float64)
    peak = f.max(axis=1, keepdims=True)
    ok = tonal(peak[:, 0])
    if not np.any(ok):
        return np.zeros(12)
    f = f[ok] / peak[ok]
    return np.asarray(f.sum(axis=0), dtype=np.float64)


#: a day of texture frames (5 per second): more than any set, so a larger count is not a track's
MAX_EVIDENCE_FRAMES = 5 * 86_400


@dataclass(frozen=True)
class KeyEvidence:
    """What a key is read from, in a form that adds up: two plays of one recording pool theirs and
    are read as one (``pooled_key``), so the recording gets one key however each play's frames fell."""

    chroma: tuple[float, ...]  # 12 shares (C first) of the summed, frame-normalised chroma
    triads: tuple[float, ...]  # ``tonic_triad_shares``: major tonics, then minor
    frames: int  # tonal frames both rest on

    def as_json(self) -> dict[str, object]:
        return {"chroma": list(self.chroma), "triads": list(self.triads), "frames": self.frames}

    @classmethod
    def from_json(cls, value: object) -> KeyEvidence | None:
        """The evidence a track carries, or None when it is missing or malformed (then it pools with nothing)."""
        if not isinstance(value, dict):
            return None
        chroma, triads, frames = value.get("chroma"), value.get("triads"), value.get("frames")
        if not isinstance(frames, int) or isinstance(frames, bool) or not 0 < frames <= MAX_EVIDENCE_FRAMES:
            return None
        rows = []
        for row, size in ((chroma, 12), (triads, 24)):
            if not isinstance(row, list) or len(row) != size:
                return None
            if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in row):
                return None
            values = tuple(float(v) for v in row)
            if not all(0.0 <= v <= 1.0 for v in values):  # also rejects nan
                return None
            rows.append(values)
        return cls(rows[0], rows[1], frames)


def key_evidence(frames: npt.NDArray[np.float32]) -> KeyEvidence | None:
    """The evidence ``estimate_key`` reads for these chroma frames, shares rounded to 1e-4;
    None without tonal content."""
    summed = summarise_chroma(frames)
    total = float(summed.sum())
    if total <= 0:
        return None
    peaks = frames.astype(np.float64).max(axis=1)
    return KeyEvidence(
        tuple(round(float(v) / total, 4) for v in summed),
        tuple(round(float(v), 4) for v in tonic_triad_shares(frames)),
        int(np.count_nonzero(tonal(peaks))),
    )


def pooled_key(evidence: list[KeyEvidence]) -> KeyEstimate | None:
    """One key from several plays of one recording: their chroma summed and their triad shares
    averaged, each by its frames, as if the frames had been one track's."""
    total = sum(e.frames for e in evidence)
    if total <= 0:
        return None
    chroma = np.zeros(12)
    triads = np.zeros(24)
    for e in evidence:
        chroma += e.frames * np.asarray(e.chroma)
        triads += e.frames * np.asarray(e.triads)
    return estimate_key(chroma, triads=triads / total)
