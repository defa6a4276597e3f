"""Six-track sets built from real drum and bass loops, clean or with known defects.

The judge has no human-labelled mixes to learn from, so it learns from mixes whose
defects we put in ourselves: tempo not matched, beats out of phase, transitions off the
bar, gain jumps, clipping. The same builder makes the test sets, the benchmark sets and
the sets the demo DJs play. Blends are linear crossfades unless ``Defects.blend`` asks for an EQ
swap, a cut or an echo-out (``BlendStyle``). Loops come from Debian's lmms-common (GPL-2+); their tempo
follows from their length and beat count.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import av
import numpy as np
import numpy.typing as npt
from scipy import signal

F32 = npt.NDArray[np.float32]
F64 = npt.NDArray[np.float64]

LMMS = Path("/usr/share/lmms/samples")
RATE = 22050

#: drum loops and how many beats each holds (tempo = beats * 60 / length)
DRUM_LOOPS: tuple[tuple[str, int], ...] = (
    ("beats/909beat01.ogg", 8),
    ("beats/electro_beat01.ogg", 8),
    ("beats/house_loop01.ogg", 4),
    ("beats/rave_kick01.ogg", 8),
    ("beats/break02.ogg", 4),
    ("beats/electro_beat02.ogg", 4),
    ("beats/jungle01.ogg", 8),
    ("beats/break01.ogg", 4),
)
#: bass and synth loops, layered over the drums so tracks differ in timbre and key
BASS_LOOPS: tuple[tuple[str, int], ...] = (
    ("bassloops/tb303_01.ogg", 8),
    ("bassloops/techno_synth01.ogg", 8),
    ("bassloops/rave_bass01.ogg", 8),
    ("bassloops/techno_synth03.ogg", 8),
    ("bassloops/briff01.ogg", 4),
    ("bassloops/techno_bass02.ogg", 4),
)


#: how one track gives way to the next: ``linear`` crossfade over the blend; ``eq_swap``, the incoming
#: enters without its lows, at the blend's midpoint the lows swap (the outgoing loses its kick and bass,
#: the incoming gains them), then the outgoing's highs fade; ``cut``, a hard cut on the bar line at the
#: blend's midpoint; ``echo_out``, the outgoing stops on that bar line and a beat-synced echo of its last
#: beat decays over ``ECHO_BARS`` while the incoming starts. Real DJs do all four; the segmentation and
#: the judge were only ever shown the first (issue 16).
BlendStyle = Literal["linear", "eq_swap", "cut", "echo_out"]
BLEND_STYLES: tuple[BlendStyle, ...] = ("linear", "eq_swap", "cut", "echo_out")
#: where an EQ swap splits lows (kick, bass) from the rest
SWAP_HZ = 180.0
#: anti-click ramp of a cut, of a swap's lows and of each echo repeat
RAMP_S = 0.005
#: an echo-out's tail: one repeat per beat, each ``ECHO_FEEDBACK`` of the one before, for this many bars
ECHO_BARS = 2
ECHO_FEEDBACK = 0.5


class MaterialError(Exception):
    """The loops needed to build sets are not installed."""


@dataclass(frozen=True)
class Defects:
    """What a DJ got wrong; all zero is a clean, beat-matched, phrase-aligned set at even gain."""

    tempo_spread: float = 0.0  # tracks keep their own tempo, up to this fraction off the set tempo
    phase_ms: float = 0.0  # incoming beats land this far after the outgoing ones
    bar_shift_beats: int = 0  # transitions start this many beats after a bar line
    gain_jump_db: float = 0.0  # alternate tracks are this much louder / quieter
    clip_db: float = 0.0  # one track is driven this far into hard clipping
    fade_bars: int = 8  # blend length: the incoming starts this many bars before the outgoing ends
    #: how each blend is mixed (``BlendStyle``). Not a mistake, but it lives beside the blend's length;
    #: "linear" renders exactly what every earlier set (and the judge's training table) was made of.
    blend: BlendStyle = "linear"
    #: 0: every transition has the defects above. k >= 1: one isolated mistake instead, at the k-th
    #: transition only (track k, counting from 0, enters late, off the bar or off tempo; from track k
    #: on the set is louder by ``gain_jump_db``). Tests and evaluations know where to look.
    only_transition: int = 0


@dataclass(frozen=True)
class SetSpec:
    bpm: float = 125.0
    tracks: int = 6
    bars_per_track: int = 32
    first_track: int = 0  # rotates the loop choice, so different DJs play different tracks
    defects: Defects = field(default_factory=Defects)
    seed: int = 0


@dataclass(frozen=True)
class BuiltSet:
    samples: F32
    sample_rate: int
    cues: tuple[float, ...]  # where each track starts (s): what the DJ declares in the tracklist
    bpms: tuple[float, ...]
    spec: SetSpec
    #: the true centre (s) of each blend: the overlap's midpoint for ``linear`` and ``eq_swap`` (where
    #: an EQ swap swaps the lows), the cut for ``cut``, where the outgoing stops for ``echo_out``
    centres: tuple[float, ...] = ()


def require_material(root: Path = LMMS) -> None:
    missing = [name for name, _ in DRUM_LOOPS + BASS_LOOPS if not (root / name).is_file()]
    if missing:
        raise MaterialError(f"lmms-common loops are missing ({missing[0]}...): apt-get install lmms-common")


def _load(path: Path, rate: int) -> F64:
    with av.open(str(path)) as container:
        stream = container.streams.audio[0]
        resampler = av.AudioResampler(format="flt", layout="mono", rate=rate)
        parts = [
            f.to_ndarray().reshape(-1) for fr in container.decode(stream) for f in resampler.resample(fr)
        ]
        parts += [f.to_ndarray().reshape(-1) for f in resampler.resample(None)]
    return np.concatenate(parts).astype(np.float64)


def _stretch(loop: F64, beats: int, bpm: float, rate: int) -> F64:
    """Resample the loop so its beats fall at ``bpm`` (pitch moves with it, as on a turntable)."""
    n = int(round(beats * 60.0 / bpm * rate))
    return np.interp(np.linspace(0.0, loop.size - 1, n, endpoint=False), np.arange(loop.size), loop)


def _norm(x: F64) -> F64:
    rms = math.sqrt(float(np.mean(np.square(x)))) or 1.0
    return x * (0.1 / rms)


def _track(root: Path, index: int, bpm: float, bars: int, rate: int) -> F64:
    drum_name, drum_beats = DRUM_LOOPS[index % len(DRUM_LOOPS)]
    bass_name, bass_beats = BASS_LOOPS[(index * 5) % len(BASS_LOOPS)]
    drums = _stretch(_load(root / drum_name, rate), drum_beats, bpm, rate)
    bass = _stretch(_load(root / bass_name, rate), bass_beats, bpm, rate)
    n = int(round(bars * 4 * 60.0 / bpm * rate))
    mix = _norm(np.resize(drums, n)) + 0.7 * _norm(np.resize(bass, n))
    return _norm(mix)


#: makes track ``index`` of a set: (index, bpm, bars, rate) -> mono samples, ``bars`` 4/4 bars long
TrackMaker = Callable[[int, float, int, int], F64]


def build_set(
    spec: SetSpec, *, root: Path = LMMS, rate: int = RATE, make_track: TrackMaker | None = None
) -> BuiltSet:
    """A continuous mix of ``spec.tracks`` tracks with the defects of ``spec.defects``.

    Tracks are lmms loops under ``root`` unless ``make_track`` builds them from other material
    (``bench/judge_material.py`` has makers for other sample packs)."""
    if make_track is None:
        require_material(root)
    maker = make_track or functools.partial(_track, root)

    d = spec.defects
    if spec.bars_per_track < 2 * d.fade_bars:
        raise ValueError(f"{spec.bars_per_track}-bar tracks cannot hold two {d.fade_bars}-bar blends")
    rng = np.random.default_rng(spec.seed)
    only = d.only_transition
    bpms = [spec.bpm]
    for i in range(1, spec.tracks):
        sign = 1.0 if i % 2 else -1.0
        off = sign * d.tempo_spread * float(rng.uniform(0.6, 1.0))
        bpms.append(spec.bpm * (1.0 + (off if not only or i == only else 0.0)))
    tracks = [maker(spec.first_track + i, bpm, spec.bars_per_track, rate) for i, bpm in enumerate(bpms)]
    if only:
        gains = [10 ** ((d.gain_jump_db if i >= only else 0.0) / 20) for i in range(spec.tracks)]
    else:
        gains = [10 ** ((d.gain_jump_db if i % 2 else -d.gain_jump_db / 2) / 20) for i in range(spec.tracks)]
    starts = [0.0]
    for i in range(1, spec.tracks):
        prev_bar = 4 * 60.0 / bpms[i - 1]
        beat = 60.0 / bpms[i - 1]
        start = starts[-1] + (spec.bars_per_track - d.fade_bars) * prev_bar
        if not only or i == only:
            start += d.bar_shift_beats * beat + d.phase_ms / 1000.0
        starts.append(start)
    total = int(math.ceil((starts[-1] * rate) + tracks[-1].size))
    out = np.zeros(total, np.float64)
    ends = [start + x.size / rate for x, start in zip(tracks, starts, strict=True)]
    if d.blend in ("linear", "eq_swap"):
        centres = [0.5 * (starts[i] + ends[i - 1]) for i in range(1, spec.tracks)]
    else:  # on the outgoing's bar line nearest the middle of the blend (its start for a 1-bar blend)
        centres = [starts[i] + (d.fade_bars // 2) * 4 * 60.0 / bpms[i - 1] for i in range(1, spec.tracks)]
    if d.blend != "linear":
        _mix_styled(out, tracks, starts, gains, centres, bpms, d.blend, rate)
    else:  # exactly as before blend styles existed: the judge's training table is made of it
        for i, (x, start) in enumerate(zip(tracks, starts, strict=True)):
            env = np.full(x.size, gains[i])
            fade = int(round(d.fade_bars * 4 * 60.0 / bpms[i] * rate))
            if i > 0:
                env[:fade] *= np.linspace(0.0, 1.0, fade)
            if i < spec.tracks - 1:
                out_fade = int(round((starts[i] + x.size / rate - starts[i + 1]) * rate))
                out_fade = max(1, min(out_fade, x.size))
                env[x.size - out_fade :] *= np.linspace(1.0, 0.0, out_fade)
            a = int(round(start * rate))
            out[a : a + x.size] += x * env
    if d.clip_db > 0:
        k = spec.tracks // 2
        a, b = (
            int(round(starts[k] * rate)),
            int(round(starts[k + 1] * rate)) if k + 1 < spec.tracks else total,
        )
        out[a:b] *= 10 ** (d.clip_db / 20)
    peak = float(np.max(np.abs(out))) or 1.0
    headroom = 0.7 / peak if d.clip_db <= 0 else 0.7 / max(peak / 10 ** (d.clip_db / 20), 1e-9)
    out = np.clip(out * headroom, -1.0, 1.0)
    return BuiltSet(out.astype(np.float32), rate, tuple(starts), tuple(bpms), spec, tuple(centres))


def _mix_styled(
    out: F64,
    tracks: list[F64],
    starts: list[float],
    gains: list[float],
    centres: list[float],
    bpms: list[float],
    style: BlendStyle,
    rate: int,
) -> None:
    """Add the tracks into ``out`` with blends of ``style`` (not linear) centred on ``centres``."""
    ramp = max(1, int(round(RAMP_S * rate)))
    last = len(tracks) - 1
    sos = signal.butter(4, SWAP_HZ, "lowpass", fs=rate, output="sos")
    for i, x in enumerate(tracks):
        a = int(round(starts[i] * rate))
        t = np.arange(x.size, dtype=np.float64)
        # the blend's centre in this track's samples, as incoming (m_in) and as outgoing (m_out)
        m_in = int(round(centres[i - 1] * rate)) - a if i > 0 else None
        m_out = int(round(centres[i] * rate)) - a if i < last else None
        if style == "eq_swap":
            lows = signal.sosfiltfilt(sos, x)
            highs = x - lows  # lows + highs is the track, exactly
            env_lo, env_hi = np.ones(x.size), np.ones(x.size)
            if m_in is not None:  # highs rise to the midpoint, lows come in just after it
                env_hi *= np.clip(t / max(m_in, 1), 0.0, 1.0)
                env_lo *= np.clip((t - m_in) / ramp, 0.0, 1.0)
            if m_out is not None:  # lows leave just before the midpoint, highs fade from it to the end
                env_lo *= np.clip((m_out - t) / ramp, 0.0, 1.0)
                env_hi *= np.clip((x.size - t) / max(x.size - m_out, 1), 0.0, 1.0)
            y = gains[i] * (lows * env_lo + highs * env_hi)
        else:  # cut and echo_out: silent before the cut as incoming, from it as outgoing
            env = np.full(x.size, gains[i])
            if m_in is not None:
                env *= np.clip((t - m_in) / ramp, 0.0, 1.0)
            if m_out is not None:
                env *= np.clip((m_out - t) / ramp, 0.0, 1.0)
            y = x * env
            if style == "echo_out" and m_out is not None:
                beat = int(round(60.0 / bpms[i] * rate))
                _echo_tail(out, x[max(0, m_out - beat) : m_out] * gains[i], a + m_out, ramp)
        out[a : a + x.size] += y


def _echo_tail(out: F64, beat: F64, at: int, ramp: int) -> None:
    """Repeats of ``beat`` (the outgoing's last beat) from sample ``at`` on, each ``ECHO_FEEDBACK`` of the last."""
    ramp = max(1, min(beat.size // 4, ramp))
    shaped = beat.copy()
    shaped[:ramp] *= np.linspace(0.0, 1.0, ramp)
    shaped[-ramp:] *= np.linspace(1.0, 0.0, ramp)
    for k in range(1, 4 * ECHO_BARS + 1):
        p = at + (k - 1) * beat.size
        n = max(0, min(beat.size, out.size - p))
        out[p : p + n] += ECHO_FEEDBACK**k * shaped[:n]


def clean(first_track: int = 0, bpm: float = 125.0, bars: int = 32) -> SetSpec:
    return SetSpec(bpm=bpm, first_track=first_track, bars_per_track=bars)


def train_wreck(first_track: int = 0, bpm: float = 125.0, bars: int = 32) -> SetSpec:
    """Tempo not matched, phase off, transitions off the bar, gain jumps and a clipped track."""
    defects = Defects(
        tempo_spread=0.05, phase_ms=140.0, bar_shift_beats=1, gain_jump_db=8.0, clip_db=9.0, fade_bars=2
    )
    return SetSpec(bpm=bpm, first_track=first_track, bars_per_track=bars, defects=defects, seed=7)
