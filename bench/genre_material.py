"""Tracks of a known genre from three independent sample sources, to train and test the genre model.

No package ships dance music labelled by genre, so the label comes from construction: each genre
is a tempo range, a drum pattern family and an arrangement habit, played with one source's drum
samples:

* hiphop 82-98 BPM: boom-bap kick (1, the "and" of 3 and a pickup), snare on 2 and 4, swung eighth
  hats, long 808 bass notes on the kicks, soft chords.
* house 118-128: four on the floor, clap on 2 and 4, open hat on the off-beats, off-beat bass, chord
  stabs.
* techno 126-140: four on the floor, sixteenth hats, off-beat ride, rumbling bass, one repeated stab.
* trance 132-142: four on the floor, off-beat open hat, rolling sixteenth bass, sustained pads and a
  sixteenth arpeggio.
* dnb 165-178: two-step (kick on 1 and the "and" of 3, snare on 2 and 4), sixteenth hats, ghost
  snares, long reese bass notes.
* dubstep 138-145: half time (kick on 1, snare on 3), triplet-ish hats, wobbling bass.

Drums come from the source (``lmms``: Debian lmms-common one-shots; ``sonic-pi``: Debian
sonic-pi-samples; ``hydrogen``: Debian hydrogen-drumkits, one kit per track). The bass and chord
layers are generated here (sine, saw and square tones), the same synthesis for every source: what
changes between sources is every drum sound, so a model that learned one source's kit cannot lean on
it for another. Nothing is downloaded.

    apt-get install -y lmms-common sonic-pi-samples hydrogen-drumkits
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from djmesh.judge.synth import LMMS, _load, _norm

F64 = npt.NDArray[np.float64]

SONIC_PI = Path("/usr/share/sonic-pi/samples")
HYDROGEN = Path("/usr/share/hydrogen/data/drumkits")
GENRES = ("hiphop", "house", "techno", "trance", "dnb", "dubstep")


class MissingMaterialError(Exception):
    """A sample package is not installed."""


@dataclass(frozen=True)
class Kit:
    kicks: tuple[Path, ...]
    snares: tuple[Path, ...]
    claps: tuple[Path, ...]
    closed: tuple[Path, ...]
    opened: tuple[Path, ...]


def _match(files: list[Path], pattern: str) -> tuple[Path, ...]:
    return tuple(f for f in files if re.search(pattern, f.name, re.IGNORECASE) and _decodes(f))


@functools.lru_cache(maxsize=4096)
def _decodes(path: Path) -> bool:
    """Some packaged samples use codecs PyAV's FFmpeg lacks (lmms' kick04.ogg is a WAV file named .ogg): skip them."""
    try:
        _sample(str(path), 22050)
    except Exception:
        return False
    return True


def _kit_from(files: list[Path], where: str) -> Kit:
    kit = Kit(
        kicks=_match(files, r"kick|^bd|_bd_|bassdrum|^bd_"),
        snares=_match(files, r"snare|^sn"),
        claps=_match(files, r"clap|snap") or _match(files, r"snare|^sn"),
        closed=_match(
            files, r"(hat|hh).*(cl|closed)|closehihat|^chh|hihatclosed|hat_cl|^hh_|cymbal_closed|pedal"
        ),
        opened=_match(files, r"(hat|hh).*(op|open)|^ohh|cymbal_open|ride|^rd"),
    )
    if not (kit.kicks and kit.snares and kit.closed):
        raise MissingMaterialError(f"no kick, snare or hat among the samples of {where}")
    if not kit.opened:
        kit = Kit(kit.kicks, kit.snares, kit.claps, kit.closed, kit.closed)
    return kit


@functools.lru_cache(maxsize=16)
def lmms_kit() -> Kit:
    files = sorted((LMMS / "drums").glob("*.ogg"))
    if not files:
        raise MissingMaterialError("lmms-common is not installed: apt-get install -y lmms-common")
    return _kit_from(files, "lmms-common")


@functools.lru_cache(maxsize=16)
def sonic_pi_kit() -> Kit:
    files = sorted(SONIC_PI.glob("*.flac"))
    if not files:
        raise MissingMaterialError("sonic-pi-samples is not installed: apt-get install -y sonic-pi-samples")
    files = [f for f in files if not f.name.startswith(("loop_", "bass_", "ambi_", "tabla_"))]
    return _kit_from(files, "sonic-pi-samples")


@functools.lru_cache(maxsize=32)
def hydrogen_kits() -> tuple[Kit, ...]:
    kits = []
    for kit in sorted(p for p in HYDROGEN.iterdir() if p.is_dir()) if HYDROGEN.is_dir() else []:
        files = sorted(p for p in kit.iterdir() if p.suffix.lower() in (".wav", ".flac", ".aiff", ".aif"))
        try:
            kits.append(_kit_from(files, kit.name))
        except MissingMaterialError:
            continue
    if not kits:
        raise MissingMaterialError("hydrogen-drumkits is not installed: apt-get install -y hydrogen-drumkits")
    return tuple(kits)


KITS: dict[str, Callable[[int], Kit]] = {
    "lmms": lambda i: lmms_kit(),
    "sonic-pi": lambda i: sonic_pi_kit(),
    "hydrogen": lambda i: hydrogen_kits()[i % len(hydrogen_kits())],
}


@functools.lru_cache(maxsize=512)
def _sample(path: str, rate: int) -> F64:
    x = _load(Path(path), rate)[: int(1.5 * rate)]
    peak = float(np.max(np.abs(x))) or 1.0
    return x / peak


def _place(out: F64, hit: F64, at: int, gain: float) -> None:
    if 0 <= at < out.size:
        n = min(hit.size, out.size - at)
        out[at : at + n] += gain * hit[:n]


def _tone(freq: float, n: int, rate: int, shape: str, decay: float) -> F64:
    t = np.arange(n) / rate
    phase = (freq * t) % 1.0
    if shape == "sine":
        wave = np.sin(2 * np.pi * freq * t)
    elif shape == "saw":
        wave = 2.0 * phase - 1.0
    else:
        wave = np.where(phase < 0.5, 1.0, -1.0)
    env = np.exp(-t / decay) if decay > 0 else np.ones(n)
    attack = min(n, int(0.005 * rate))
    env[:attack] *= np.linspace(0.0, 1.0, attack)
    release = min(n, int(0.01 * rate))
    env[n - release :] *= np.linspace(1.0, 0.0, release)
    return wave * env


def _hz(midi: float) -> float:
    return 440.0 * 2.0 ** ((midi - 69.0) / 12.0)


#: (kick steps, snare steps, closed-hat steps, open-hat steps) alternatives per genre, sixteenths of a bar
PATTERNS: dict[str, tuple[tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...], tuple[int, ...]], ...]] = {
    "hiphop": (
        ((0, 10), (4, 12), (0, 2, 4, 6, 8, 10, 12, 14), ()),
        ((0, 7, 10), (4, 12), (0, 2, 4, 6, 8, 10, 12, 14), ()),
        ((0, 3, 10, 11), (4, 12), (0, 2, 4, 6, 8, 10, 12, 14), (14,)),
    ),
    "house": (
        ((0, 4, 8, 12), (4, 12), (), (2, 6, 10, 14)),
        ((0, 4, 8, 12), (4, 12), (0, 1, 3, 4, 5, 7, 8, 9, 11, 12, 13, 15), (2, 6, 10, 14)),
    ),
    "techno": (
        ((0, 4, 8, 12), (), tuple(range(16)), (2, 6, 10, 14)),
        ((0, 4, 8, 12), (12,), tuple(range(16)), (2, 6, 10, 14)),
        ((0, 4, 8, 12, 14), (4, 12), tuple(range(16)), ()),
    ),
    "trance": (
        ((0, 4, 8, 12), (4, 12), (), (2, 6, 10, 14)),
        ((0, 4, 8, 12), (4, 12), (0, 4, 8, 12), (2, 6, 10, 14)),
    ),
    "dnb": (
        ((0, 10), (4, 12), tuple(range(0, 16, 2)), ()),
        ((0, 10), (4, 12), tuple(range(16)), ()),
        ((0, 6, 10), (4, 12), tuple(range(0, 16, 2)), (14,)),
    ),
    "dubstep": (
        ((0,), (8,), (0, 2, 4, 6, 8, 10, 12, 14), ()),
        ((0, 3), (8,), (0, 3, 6, 8, 11, 14), ()),
        ((0, 14), (8,), (0, 2, 4, 6, 8, 10, 12, 14), (6,)),
    ),
}
TEMPO: dict[str, tuple[float, float]] = {
    "hiphop": (82.0, 98.0),
    "house": (118.0, 128.0),
    "techno": (126.0, 140.0),
    "trance": (132.0, 142.0),
    "dnb": (165.0, 178.0),
    "dubstep": (138.0, 145.0),
}
#: chord roots (minor) of a four-bar progression, semitones above the track's tonic
_PROGRESSION = (0, 8, 3, 10)
_MINOR = (0, 3, 7)


def genre_track(
    genre: str,
    source: str,
    index: int,
    rate: int = 22050,
    seconds: float = 36.0,
    bpm: float | None = None,
    breakdown: tuple[int, int] | None = None,
) -> tuple[F64, float]:
    """One track of ``genre`` played with ``source``'s drums: (mono samples, bpm); ``bpm`` overrides
    the tempo drawn from the genre's range (a set beat-matched at one tempo); ``breakdown`` (first
    bar, end bar) takes the drums out for a while, as tracks do."""
    rng = np.random.default_rng(_seed(genre, source, index))
    lo, hi = TEMPO[genre]
    drawn = float(round(rng.uniform(lo, hi), 1))
    bpm = drawn if bpm is None else float(bpm)
    kit = KITS[source](index)
    kick_steps, snare_steps, hat_steps, open_steps = PATTERNS[genre][int(rng.integers(len(PATTERNS[genre])))]
    pick = lambda files: _sample(str(files[int(rng.integers(len(files)))]), rate)  # noqa: E731
    kick, snare, clap, hat, open_hat = (
        pick(f) for f in (kit.kicks, kit.snares, kit.claps, kit.closed, kit.opened)
    )
    step = 60.0 / bpm / 4.0 * rate
    swing = float(rng.uniform(0.08, 0.18)) if genre == "hiphop" else 0.0
    bars = max(8, int(round(seconds * bpm / 240.0)))
    n = int(round(bars * 16 * step))
    drums = np.zeros(n)
    tonic = 45 + int(rng.integers(12))  # A2..G#3
    bass = np.zeros(n)
    keys = np.zeros(n)

    def at(s: int) -> int:
        off = swing * step if s % 2 == 1 or (genre == "hiphop" and s % 4 == 2 and swing > 0.14) else 0.0
        return int(round(s * step + off))

    for bar in range(bars):
        base = bar * 16
        chord = tonic + _PROGRESSION[bar % 4]
        fill = bar % 8 == 7
        for s in kick_steps:
            _place(drums, kick, at(base + s), 1.0)
        snare_hit = clap if genre in ("house", "trance") else snare
        for s in snare_steps:
            _place(drums, snare_hit, at(base + s), 0.8)
        if genre == "dnb" and rng.random() < 0.7:  # ghost snares
            for s in (7, 9, 15):
                if rng.random() < 0.5:
                    _place(drums, snare, at(base + s), 0.25)
        if fill and genre in ("hiphop", "dnb", "dubstep"):
            for s in (13, 14, 15):
                _place(drums, snare, at(base + s), 0.5)
        for s in hat_steps:
            _place(drums, hat, at(base + s), 0.3 if s % 4 else 0.22)
        for s in open_steps:
            _place(drums, open_hat, at(base + s), 0.35)
        _bass_bar(genre, bass, base, step, at, chord - 12, kick_steps, rate, rng)
        _keys_bar(genre, keys, base, step, at, chord + 12, rate, rng)
    if breakdown is not None:  # the drums drop out for these bars and come back
        a, b = (int(round(bar * 16 * step)) for bar in breakdown)
        drums[a:b] = 0.0
    # a fifth of the tracks are drums alone and a fifth have no chords (a DJ tool, an intro): the
    # model must not need the generated layers to tell the genre
    layers = float(rng.random())
    if breakdown is not None:  # a breakdown leaves the bass and chords playing
        layers = max(layers, 0.5)
    bass_gain = 0.0 if layers < 0.2 else float(rng.uniform(0.5, 0.8))
    keys_gain = 0.0 if layers < 0.4 else float(rng.uniform(0.2, 0.5))
    mix = _norm(drums) + bass_gain * _norm(bass) + keys_gain * _norm(keys)
    return _norm(mix), bpm


def _seed(genre: str, source: str, index: int) -> int:
    return (GENRES.index(genre) * 1000 + sorted(KITS).index(source) * 100_000 + index) * 7919 + 17


def _bass_bar(
    genre: str,
    out: F64,
    base: int,
    step: float,
    at: Callable[[int], int],
    note: int,
    kicks: tuple[int, ...],
    rate: int,
    rng: np.random.Generator,
) -> None:
    f = _hz(note)
    if genre == "hiphop":
        for s in kicks:
            _place(out, _tone(f / 2, int(4 * step), rate, "sine", 0.5), at(base + s), 1.0)
    elif genre == "house":
        for s in (2, 6, 10, 14):
            _place(out, _tone(f, int(1.5 * step), rate, "square", 0.08), at(base + s), 1.0)
    elif genre == "techno":
        for s in range(16):
            if s % 4:
                _place(out, _tone(f / 2, int(step), rate, "saw", 0.05), at(base + s), 0.8)
    elif genre == "trance":
        for s in range(16):
            if s % 4:
                _place(out, _tone(f, int(step), rate, "saw", 0.06), at(base + s), 1.0)
    elif genre == "dnb":
        _place(out, _tone(f / 2, int(8 * step), rate, "saw", 0.0), at(base), 0.6)
        _place(out, _tone(f / 2 * 1.5, int(6 * step), rate, "saw", 0.0), at(base + 10), 0.6)
    else:  # dubstep: a wobble, the level swung by a low-frequency oscillator in eighths or sixteenths
        n = int(16 * step)
        tone = _tone(f / 2, n, rate, "saw", 0.0) + 0.5 * _tone(f, n, rate, "square", 0.0)
        rate_steps = (2, 4, 8)[int(rng.integers(3))]
        lfo = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(n) / (rate_steps * step))
        _place(out, tone * lfo, at(base), 1.0)


def _keys_bar(
    genre: str,
    out: F64,
    base: int,
    step: float,
    at: Callable[[int], int],
    root: int,
    rate: int,
    rng: np.random.Generator,
) -> None:
    chord = [_hz(root + i) for i in _MINOR]
    if genre == "hiphop":
        for s in (0, 8):
            for f in chord:
                _place(out, _tone(f, int(6 * step), rate, "sine", 0.4), at(base + s), 0.5)
    elif genre == "house":
        for s in (3, 6, 11) if rng.random() < 0.5 else (2, 10):
            for f in chord:
                _place(out, _tone(f, int(2 * step), rate, "square", 0.1), at(base + s), 0.4)
    elif genre == "techno":
        for s in (3, 11):
            _place(out, _tone(chord[0], int(step), rate, "saw", 0.05), at(base + s), 0.6)
    elif genre == "trance":
        for f in chord:
            _place(out, _tone(f, int(16 * step), rate, "saw", 0.0), at(base), 0.3)
        for s in range(16):
            _place(out, _tone(2 * chord[s % 3], int(step), rate, "square", 0.05), at(base + s), 0.2)
    elif genre == "dnb":
        if base % 32 == 0:
            for f in chord:
                _place(out, _tone(f, int(32 * step), rate, "saw", 0.0), at(base), 0.2)
    else:
        if rng.random() < 0.3:
            _place(out, _tone(2 * chord[0], int(2 * step), rate, "square", 0.1), at(base + 12), 0.4)
