"""Streaming analysis for live audio: feed PCM chunks, get beats, tempo, key and levels.

Every piece of state is a fixed-size ring or a filter state, so memory does not
grow with stream length and the work per chunk is bounded: onset and chroma
front ends run on each chunk; tempo and beat phase are re-estimated every half
second over the last 8 s; the key every 2 s from exponentially decayed chroma.
Beats are predicted from the fitted grid and reported on the first chunk that
reaches them, so their latency is at most one chunk plus the resampler delay.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass
from typing import Any

import av
import numpy as np
import numpy.typing as npt
from scipy.signal import sosfilt

from .beats import fit_grid
from .decode import ANALYSIS_RATE
from .key import estimate_key
from .loudness import k_weighting_sos
from .onset import FRAME_RATE, OnsetFrontend
from .tempo import estimate_tempo
from .texture import FRAME_RATE as TEXTURE_RATE
from .texture import TextureFrontend

F32 = npt.NDArray[np.float32]

TEMPO_WINDOW_S = 8.0
TEMPO_EVERY_S = 0.5
KEY_EVERY_S = 2.0
KEY_TIME_CONSTANT_S = 30.0
MIN_TEMPO_HISTORY_S = 4.0


@dataclass(frozen=True)
class BeatEvent:
    """A beat at ``time`` (s since the first sample fed)."""

    time: float
    bpm: float


@dataclass(frozen=True)
class TempoUpdate:
    time: float
    bpm: float
    confidence: float


@dataclass(frozen=True)
class KeyUpdate:
    time: float
    key: str
    camelot: str
    confidence: float


@dataclass(frozen=True)
class LevelUpdate:
    """Levels of the chunk just fed: RMS and sample peak in dBFS, momentary loudness (400 ms) in LUFS."""

    time: float
    rms_db: float
    peak_db: float
    momentary_lufs: float


LiveUpdate = BeatEvent | TempoUpdate | KeyUpdate | LevelUpdate


def _db(x: float) -> float:
    return 20.0 * math.log10(x) if x > 1e-10 else -200.0


class LiveAnalyzer:
    """Feed float PCM chunks ((n,) or (n, channels), any size) with ``feed``; updates come back."""

    def __init__(
        self, sample_rate: int, channels: int, *, bpm_range: tuple[float, float] | None = None
    ) -> None:
        if sample_rate <= 0 or channels <= 0:
            raise ValueError("sample_rate and channels must be positive")
        self.sample_rate = sample_rate
        self.channels = channels
        self.bpm_range = bpm_range
        self._layout = "mono" if channels == 1 else "stereo"
        self._resampler = av.AudioResampler(format="flt", layout="mono", rate=ANALYSIS_RATE)
        self._onset = OnsetFrontend()
        self._texture = TextureFrontend()
        n = int(TEMPO_WINDOW_S * FRAME_RATE)
        self._broad = np.zeros(n, np.float32)
        self._low = np.zeros(n, np.float32)
        self._frames = 0  # onset frames seen in total
        self._next_tempo_frame = int(MIN_TEMPO_HISTORY_S * FRAME_RATE)
        self._chroma = np.zeros(12)
        self._chroma_frames = 0
        self._next_key_frame = int(KEY_EVERY_S * TEXTURE_RATE)
        self._samples = 0
        self._chunk_start = 0.0
        self._sos = k_weighting_sos(sample_rate)
        self._zi = np.zeros((channels, self._sos.shape[0], 2))
        self._sub_len = max(1, round(sample_rate * 0.1))
        self._sub_acc = 0.0
        self._sub_n = 0
        self._subs: deque[float] = deque(maxlen=4)
        self._bpm = 0.0
        self._period_s = 0.0
        self._next_beat = math.inf
        self._pending_bpm = 0.0
        self._pending_count = 0

    @property
    def bpm(self) -> float:
        return self._bpm

    def feed(self, pcm_chunk: npt.NDArray[Any]) -> list[LiveUpdate]:
        """Analyse one chunk; returns the updates it produced (beats in time order first)."""
        x = np.asarray(pcm_chunk, dtype=np.float32)
        if x.ndim == 1:
            x = x[:, None]
        if x.ndim != 2 or x.shape[1] != self.channels:
            raise ValueError(f"expected (n, {self.channels}) samples, got {x.shape}")
        if x.shape[0] == 0:
            return []
        if not np.all(np.isfinite(x)):
            x = np.nan_to_num(x, nan=0.0, posinf=1.0, neginf=-1.0)
        now_start = self._samples / self.sample_rate
        self._chunk_start = now_start
        self._samples += x.shape[0]
        now = self._samples / self.sample_rate
        updates: list[LiveUpdate] = []
        mono = self._to_mono(x)
        self._push_onsets(mono, now, updates)
        self._push_texture(mono, now, updates)
        updates.extend(self._due_beats(now))
        updates.append(self._levels(x, now))
        return updates

    def _to_mono(self, x: F32) -> F32:
        planar = np.ascontiguousarray(x[:, :2].T if self.channels > 2 else x.T)
        frame = av.AudioFrame.from_ndarray(planar, format="fltp", layout=self._layout)
        frame.sample_rate = self.sample_rate
        out = [f.to_ndarray().reshape(-1) for f in self._resampler.resample(frame)]
        return np.concatenate(out) if out else np.zeros(0, np.float32)

    def _push_onsets(self, mono: F32, now: float, updates: list[LiveUpdate]) -> None:
        o = self._onset.push(mono)
        k = o.broad.size
        if k == 0:
            return
        n = self._broad.size
        if k >= n:
            self._broad[:] = o.broad[-n:]
            self._low[:] = o.low[-n:]
        else:
            self._broad = np.roll(self._broad, -k)
            self._low = np.roll(self._low, -k)
            self._broad[-k:] = o.broad
            self._low[-k:] = o.low
        self._frames += k
        if self._frames >= self._next_tempo_frame:
            self._next_tempo_frame = self._frames + int(TEMPO_EVERY_S * FRAME_RATE)
            self._retrack(now, updates)

    def _retrack(self, now: float, updates: list[LiveUpdate]) -> None:
        """Re-estimate tempo and beat phase over the ring; accept a tempo change after 3 agreeing looks."""
        filled = min(self._frames, self._broad.size)
        broad, low = self._broad[-filled:], self._low[-filled:]
        if float(broad.max(initial=0.0)) <= 1e-6:
            return
        est = estimate_tempo(broad + low, FRAME_RATE, self.bpm_range)
        if est.bpm <= 0:
            return
        if self._bpm and abs(est.bpm / self._bpm - 1.0) < 0.02:
            bpm = est.bpm
            self._pending_count = 0
        elif self._bpm and self._pending_count < 2:
            same = self._pending_bpm and abs(est.bpm / self._pending_bpm - 1.0) < 0.02
            self._pending_count = self._pending_count + 1 if same else 1
            self._pending_bpm = est.bpm
            bpm = self._bpm
        else:
            bpm = est.bpm
            self._pending_count = 0
        grid = fit_grid(broad, low, bpm, FRAME_RATE, 0, filled)
        if grid.period <= 0:
            return
        changed = abs(bpm - self._bpm) >= 0.05
        self._bpm = 60.0 * FRAME_RATE / grid.period
        self._period_s = grid.period / FRAME_RATE
        # absolute time of the ring's frame 0, then the first grid beat after the last one reported
        t0 = (self._frames - filled) / FRAME_RATE
        last_beat = t0 + grid.beat_frames()[-1] / FRAME_RATE if grid.beat_frames().size else now
        nxt = last_beat
        while nxt < self._chunk_start:  # beats before this chunk were due earlier: never report late
            nxt += self._period_s
        if math.isfinite(self._next_beat) and abs(nxt - self._next_beat) < 0.5 * self._period_s:
            self._next_beat = max(nxt, self._next_beat - 0.25 * self._period_s)
        elif not math.isfinite(self._next_beat) or nxt > self._next_beat:
            self._next_beat = nxt
        if changed:
            updates.append(TempoUpdate(now, round(self._bpm, 2), round(est.confidence, 4)))

    def _due_beats(self, now: float) -> list[LiveUpdate]:
        out: list[LiveUpdate] = []
        while self._period_s > 0 and self._next_beat <= now:
            out.append(BeatEvent(round(self._next_beat, 4), round(self._bpm, 2)))
            self._next_beat += self._period_s
        return out

    def _push_texture(self, mono: F32, now: float, updates: list[LiveUpdate]) -> None:
        t = self._texture.push(mono)
        if t.chroma.shape[0] == 0:
            return
        decay = math.exp(-1.0 / (KEY_TIME_CONSTANT_S * TEXTURE_RATE))
        for row in t.chroma.astype(np.float64):
            peak = float(row.max())
            self._chroma = self._chroma * decay + (row / peak if peak > 0 else row)
        self._chroma_frames += t.chroma.shape[0]
        if self._chroma_frames >= self._next_key_frame:
            self._next_key_frame = self._chroma_frames + int(KEY_EVERY_S * TEXTURE_RATE)
            k = estimate_key(self._chroma)
            if k is not None:
                updates.append(KeyUpdate(now, k.name, k.camelot, round(k.confidence, 4)))

    def _levels(self, x: F32, now: float) -> LevelUpdate:
        rms = float(np.sqrt(np.mean(np.square(x, dtype=np.float64))))
        peak = float(np.max(np.abs(x)))
        power = np.zeros(x.shape[0])
        for ch in range(min(self.channels, 2)):
            y, self._zi[ch] = sosfilt(self._sos, x[:, ch].astype(np.float64), zi=self._zi[ch])
            power += y * y
        pos = 0
        while pos < power.size:
            take = min(self._sub_len - self._sub_n, power.size - pos)
            self._sub_acc += float(power[pos : pos + take].sum())
            self._sub_n += take
            pos += take
            if self._sub_n == self._sub_len:
                self._subs.append(self._sub_acc / self._sub_len)
                self._sub_acc, self._sub_n = 0.0, 0
        ms = sum(self._subs) / len(self._subs) if self._subs else 0.0
        lufs = -0.691 + 10.0 * math.log10(ms) if ms > 1e-20 else -200.0
        return LevelUpdate(round(now, 4), round(_db(rms), 2), round(_db(peak), 2), round(lufs, 2))
