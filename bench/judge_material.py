"""Sets from three independent sample sources, for an evaluation of the judge that cannot flatter.

The judge's model and its finding thresholds were made on lmms loops (``djmesh.judge.synth``);
the other two sources share no sample with them:

* ``lmms``: Debian ``lmms-common`` drum and bass loops (the material the judge was tuned on).
* ``sonic-pi``: Debian ``sonic-pi-samples`` one-shots (kicks, snares, hats, bass notes in C),
  sequenced here into patterns, bass pitched into a key per track.
* ``hydrogen``: Debian ``hydrogen-drumkits`` (eight acoustic and electronic kits), sequenced the
  same way; the bass line is the kit's own kick pitched to notes, 808 style.

Patterns follow the tempo: hip hop (under 100 BPM: kick on 1 and the "and" of 3, snare on 2 and 4,
eighth hats), house/techno (100-150: four on the floor, off-beat hats, clap on 2 and 4) and drum &
bass (over 150: kick on 1 and the "and" of 3, snare on 2 and 4, sixteenth hats). Nothing is
downloaded: every file comes from an installed Debian package.

    apt-get install -y lmms-common sonic-pi-samples hydrogen-drumkits
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from pathlib import Path

import numpy as np
import numpy.typing as npt

from djmesh.judge.synth import LMMS, _load, _norm, _track

F64 = npt.NDArray[np.float64]
TrackMaker = Callable[[int, float, int, int], F64]

SONIC_PI = Path("/usr/share/sonic-pi/samples")
HYDROGEN = Path("/usr/share/hydrogen/data/drumkits")
HYDROGEN_KITS = (
    "ColomboAcousticDrumkit",
    "ElectricEmpireKit",
    "ForzeeStereo",
    "HardElectro1",
    "Millo-Drums_v.1",
    "VariBreaks",
    "The Black Pearl 1.0",
    "BJA_Pacific",
)
#: minor-key roots (semitones above C) for successive tracks, so keys change through a set
_ROOTS = (0, 7, 2, 9, 4, 11, 5, 10)
#: bass riff per bar: (sixteenth step, semitones above the root)
_RIFF = ((0, 0), (3, 0), (6, 3), (10, 7), (12, 5), (14, 3))


class MissingMaterialError(Exception):
    """A sample package is not installed."""


#: When set (``bench/judge_eval.py --trim-onsets``), every one-shot starts at its attack (its first
#: sample at 10 % of its peak, less 1 ms) instead of where its file starts: kits' kicks start 0-18 ms
#: into their files, so a set sequenced on the file starts is not aligned on what is heard.
TRIM_ONSETS = False
#: When set (``bench/judge_eval.py --align-attacks``), every one-shot is placed so that its attack (as
#: ``TRIM_ONSETS`` finds it) falls on its step, the whole file kept: what comes before the attack sounds
#: just before the step (wrapping to the end of the loop for a bar's first step). A clean set is then lined
#: up on what is heard, with the samples as recorded.
ALIGN_ATTACKS = False


def _attack(x: F64, rate: int) -> int:
    """Samples before a one-shot's attack: its first sample at 10 % of its peak, less 1 ms."""
    peak = float(np.max(np.abs(x))) if x.size else 0.0
    attack = int(np.argmax(np.abs(x) >= 0.1 * peak)) if peak > 0 else 0
    return max(0, attack - int(0.001 * rate))


def bars_per_track(bpm: float) -> int:
    """About a minute per track (the dsp segmentation needs tracks of 40 s or more)."""
    return 24 if bpm < 100 else 32 if bpm <= 150 else 48


@functools.lru_cache(maxsize=256)
def _loaded(path: str, rate: int) -> F64:
    return _load(Path(path), rate)


def _sample(path: str, rate: int) -> F64:
    x = _loaded(path, rate)
    if not TRIM_ONSETS or x.size == 0:
        return x
    return x[_attack(x, rate) :]


def _pattern(bpm: float) -> dict[str, tuple[int, ...]]:
    """Sixteenth steps (0..15) of kick, snare and hat in one 4/4 bar for the tempo's genre."""
    if bpm < 100:
        return {"kick": (0, 10), "snare": (4, 12), "hat": (0, 2, 4, 6, 8, 10, 12, 14)}
    if bpm <= 150:
        return {"kick": (0, 4, 8, 12), "snare": (4, 12), "hat": (2, 6, 10, 14)}
    return {"kick": (0, 10), "snare": (4, 12), "hat": tuple(range(16))}


def _place(bar: F64, hit: F64, at: int, gain: float, rate: int | None = None) -> None:
    """Add ``hit`` at sample ``at`` (its attack there when ``ALIGN_ATTACKS`` and ``rate`` are given)."""
    if ALIGN_ATTACKS and rate is not None:
        at -= _attack(hit, rate)
    if at < 0:  # the part before the attack sounds at the end of the loop, just before its first step
        head = hit[: min(-at, hit.size)]
        bar[bar.size - head.size :] += gain * head
        hit, at = hit[head.size :], 0
    n = min(hit.size, bar.size - at)
    if n > 0:
        bar[at : at + n] += gain * hit[:n]


def _pitched(note: F64, semitones: float) -> F64:
    """Resample a one-shot up or down (pitch and length move together, as on a sampler)."""
    factor = 2.0 ** (semitones / 12.0)
    n = max(1, int(note.size / factor))
    return np.interp(np.arange(n) * factor, np.arange(note.size), note)


def _sequenced(
    kick: F64, snare: F64, hat: F64, bass: F64, index: int, bpm: float, bars: int, rate: int
) -> F64:
    step = 60.0 / bpm / 4.0 * rate
    bar_len = int(round(16 * step))
    drums = np.zeros(bar_len)
    pattern = _pattern(bpm)
    for name, hit, gain in (("kick", kick, 1.0), ("snare", snare, 0.8), ("hat", hat, 0.35)):
        for s in pattern[name]:
            _place(drums, hit, int(round(s * step)), gain, rate)
    line = np.zeros(bar_len)
    root = _ROOTS[index % len(_ROOTS)] - 12
    for s, interval in _RIFF:
        note = _pitched(bass, root + interval)[: int(2 * step)]
        fade = np.linspace(1.0, 0.0, note.size) ** 0.5
        _place(line, note * fade, int(round(s * step)), 1.0, rate)
    n = int(round(bars * 4 * 60.0 / bpm * rate))
    loop = _norm(drums) + 0.7 * _norm(line)
    return _norm(np.resize(loop, n))


def _pick(files: list[Path], pattern: str, index: int) -> Path:
    found = [f for f in files if re.search(pattern, f.name, re.IGNORECASE)]
    if not found:
        raise MissingMaterialError(f"no sample matching {pattern!r} among {files[:3]}...")
    return found[index % len(found)]


def sonic_pi_track(index: int, bpm: float, bars: int, rate: int) -> F64:
    files = sorted(SONIC_PI.glob("*.flac"))
    if not files:
        raise MissingMaterialError("sonic-pi-samples is not installed: apt-get install -y sonic-pi-samples")
    kick = _pick(files, r"^bd_", index)
    snare = _pick(files, r"^(sn_|drum_snare_)", index * 3)
    hat = _pick(files, r"^drum_cymbal_(closed|pedal)", index)
    bass = _pick(files, r"^bass_.*_c\.flac$", index * 5)
    return _sequenced(
        *(_sample(str(p), rate) for p in (kick, snare, hat, bass)), index=index, bpm=bpm, bars=bars, rate=rate
    )


def hydrogen_track(index: int, bpm: float, bars: int, rate: int, *, variant: int = 0) -> F64:
    """``variant`` picks the kit's next kick, snare and hat and other roots (``track_maker``)."""
    kit = HYDROGEN / HYDROGEN_KITS[index % len(HYDROGEN_KITS)]
    files = sorted(p for p in kit.iterdir() if p.suffix.lower() in (".wav", ".flac", ".aiff", ".aif"))
    if not files:
        raise MissingMaterialError(f"{kit} is empty: apt-get install -y hydrogen-drumkits")
    kick = _pick(files, r"kick|^bd|_bd_|bassdrum", variant)
    snare = _pick(files, r"snare|^sn|clap", variant)
    hat = _pick(files, r"(hat|hh).*(cl|closed)|closehihat|^chh|hihatclosed|hat_cl|hh_", variant)
    k, s, h = (_sample(str(p), rate) for p in (kick, snare, hat))
    return _sequenced(k, s, h, k, index=index + 3 * variant, bpm=bpm, bars=bars, rate=rate)


def lmms_track(index: int, bpm: float, bars: int, rate: int) -> F64:
    return _track(LMMS, index, bpm, bars, rate)


SOURCES: dict[str, TrackMaker] = {"lmms": lmms_track, "sonic-pi": sonic_pi_track, "hydrogen": hydrogen_track}


def track_maker(source: str, set_number: int) -> TrackMaker:
    """The tracks of ``bench/judge_eval.py``'s set ``set_number`` (its ``first_track``).

    Hydrogen has eight kits and eight roots, so its set n + 8 was set n again (same kits, same samples):
    each further eight set numbers take the kits' next samples and roots three places on. Set numbers 0-7
    (the first 24 sets) are as they always were; lmms and sonic-pi do not repeat this way.
    """
    if source == "hydrogen":
        return functools.partial(hydrogen_track, variant=set_number // 8)
    return SOURCES[source]
