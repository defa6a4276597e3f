"""Key detection on chord progressions from four independent tonal sources, MIREX weighted score.

    .venv/bin/python bench/key_eval.py [--sources lmms,generated,sonic-pi,soundfont] [--tonics 12] [--drums]

Progressions (known key by construction) are played with one source's sounds:

* ``lmms``: recorded single notes of Debian lmms-common instruments (piano, organs, trumpet), pitched
  like a sampler (``bench/dsp_material.py`` NOTES);
* ``sonic-pi``: the pitched bass and synth one-shots of Debian sonic-pi-samples whose file name gives
  the note (``bass_*_c``, ``bass_dnb_f``, ``glitch_bass_g``), pitched the same way;
* ``generated``: sine, saw, square and plucked tones made here;
* ``soundfont``: eight General MIDI instruments of Debian timgm6mb-soundfont (TimGM6mb.sf2, GPL-2; read by
  ``bench/soundfont.py``), each note pitched like a sampler from the instrument's sample whose pitch is
  nearest. The instruments were chosen by timbre before any run (piano, electric piano, church organ,
  string ensemble, nylon guitar, fingered bass, trumpet, choir) and are not to be swapped for scores.

Six progressions, each chord with its root an octave below: I-IV-V-I, I-vi-IV-V, I-V-vi-IV (major);
i-VI-VII-i, i-iv-v-i (natural minor), i-iv-V-i (harmonic minor). With ``--drums`` a drum loop
(``tests/helpers/audio.py``) plays under every progression.

Each row of the report compares, in the same run on the same audio, djmesh's key (``analyze``) with the
plain recipe: a short-time Fourier chroma (every bin's energy to its pitch class) summed over the
track and correlated with the Krumhansl-Kessler profiles. The key finder was tuned on ``lmms`` and
``generated``; ``sonic-pi`` and ``soundfont`` are held out.
"""

from __future__ import annotations

import argparse
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np
import numpy.typing as npt

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from dsp_material import NOTES
from soundfont import read_instruments

from djmesh.dsp import analyze_pcm
from djmesh.dsp.key import PITCH_NAMES, PROFILES
from djmesh.judge.synth import LMMS, _load
from tests.helpers.audio import drum_pattern, shift_pitch

F32 = npt.NDArray[np.float32]
SR = 44100
SONIC_PI = Path("/usr/share/sonic-pi/samples")
#: sonic-pi one-shots whose name gives their note -> pitch class (the octave does not matter here)
SONIC_PI_NOTES = {
    "bass_hard_c.flac": 36,
    "bass_thick_c.flac": 36,
    "bass_trance_c.flac": 36,
    "bass_voxy_c.flac": 48,
    "bass_woodsy_c.flac": 36,
    "bass_hit_c.flac": 36,
    "bass_dnb_f.flac": 41,
    "glitch_bass_g.flac": 43,
}
SOUNDFONT = Path("/usr/share/sounds/sf2/TimGM6mb.sf2")
#: TimGM6mb instruments (their names in the file's inst chunk), chosen for timbre before any run
SOUNDFONT_INSTRUMENTS = (
    "Piano 1",
    "E.Piano 2",
    "Church Organ1",
    "Strings CLP5",
    "Nylon Guitar",
    "Fingered Bass",
    "SoloTrumpet",
    "Choir Aahs0",
)
MAJOR_TRIAD, MINOR_TRIAD = (0, 4, 7), (0, 3, 7)
#: name -> (minor?, chords as (root above the tonic, triad))
PROGRESSIONS: dict[str, tuple[bool, tuple[tuple[int, tuple[int, int, int]], ...]]] = {
    "I-IV-V-I": (False, ((0, MAJOR_TRIAD), (5, MAJOR_TRIAD), (7, MAJOR_TRIAD), (0, MAJOR_TRIAD))),
    "I-vi-IV-V": (False, ((0, MAJOR_TRIAD), (9, MINOR_TRIAD), (5, MAJOR_TRIAD), (7, MAJOR_TRIAD))),
    "I-V-vi-IV": (False, ((0, MAJOR_TRIAD), (7, MAJOR_TRIAD), (9, MINOR_TRIAD), (5, MAJOR_TRIAD))),
    "i-VI-VII-i": (True, ((0, MINOR_TRIAD), (8, MAJOR_TRIAD), (10, MAJOR_TRIAD), (0, MINOR_TRIAD))),
    "i-iv-v-i": (True, ((0, MINOR_TRIAD), (5, MINOR_TRIAD), (7, MINOR_TRIAD), (0, MINOR_TRIAD))),
    "i-iv-V-i": (True, ((0, MINOR_TRIAD), (5, MINOR_TRIAD), (7, MAJOR_TRIAD), (0, MINOR_TRIAD))),
}
TRAIN_SOURCES = ("lmms", "generated")


def _synth(kind: str, midi: float, seconds: float = 2.0) -> F32:
    t = np.arange(int(seconds * SR)) / SR
    f = 440.0 * 2.0 ** ((midi - 69.0) / 12.0)
    phase = (f * t) % 1.0
    if kind == "sine":
        wave = np.sin(2 * np.pi * f * t) + 0.3 * np.sin(4 * np.pi * f * t)
        env = np.exp(-t / 1.5)
    elif kind == "saw":
        wave, env = 2.0 * phase - 1.0, np.ones_like(t)
    elif kind == "square":
        wave, env = np.where(phase < 0.5, 1.0, -1.0), np.exp(-t / 3.0)
    else:  # pluck
        wave = sum(np.sin(2 * np.pi * f * k * t) / k**1.5 for k in range(1, 7))
        env = np.exp(-t / 0.4)
    return (wave * env).astype(np.float32)


#: an instrument: its note recordings with their MIDI pitch (one for most sources, several for a soundfont)
Voice = list[tuple[F32, float]]


def soundfont_voices() -> list[Voice]:
    """The chosen instruments of the soundfont, every sample of each once (2 s notes at their own pitch)."""
    if not SOUNDFONT.exists():
        sys.exit("timgm6mb-soundfont is not installed: apt-get install -y timgm6mb-soundfont")
    by_instrument: dict[str, dict[str, tuple[F32, float]]] = {name: {} for name in SOUNDFONT_INSTRUMENTS}
    for zone in read_instruments(SOUNDFONT):
        samples = by_instrument.get(zone.instrument)
        if samples is not None and zone.sample.name not in samples:
            samples[zone.sample.name] = (zone.note(2.0, SR), zone.midi)
    missing = [name for name, samples in by_instrument.items() if not samples]
    if missing:
        sys.exit(f"{SOUNDFONT} has no instrument {', '.join(missing)}: another version of the font?")
    return [list(samples.values()) for samples in by_instrument.values()]


def instruments(source: str) -> list[Voice]:
    """The recordings of each instrument of the source, each with its MIDI pitch."""
    if source == "lmms":
        return [[(_load(LMMS / name, SR).astype(np.float32)[: 2 * SR], midi)] for name, midi in NOTES.items()]
    if source == "sonic-pi":
        return [
            [(_load(SONIC_PI / name, SR).astype(np.float32)[: 2 * SR], float(midi))]
            for name, midi in SONIC_PI_NOTES.items()
        ]
    if source == "soundfont":
        return soundfont_voices()
    return [[(_synth(kind, 60.0), 60.0)] for kind in ("sine", "saw", "square", "pluck")]


def progression(voice: Voice, tonic: int, name: str, chord_s: float = 1.5) -> F32:
    """The progression in ``tonic``; each note pitched like a sampler from the voice's nearest recording."""
    _, chords = PROGRESSIONS[name]
    n = int(chord_s * SR)
    out = np.zeros(n * len(chords) * 2, np.float32)
    base = 48 + tonic
    for rep in range(2):
        for i, (root, triad) in enumerate(chords):
            a = (rep * len(chords) + i) * n
            for d in (*(root + x for x in triad), root - 12):
                note, note_midi = min(voice, key=lambda rec: abs(rec[1] - (base + d)))
                tone = shift_pitch(note, base + d - note_midi)[:n]
                out[a : a + tone.size] += tone
    peak = float(np.max(np.abs(out))) or 1.0
    return (0.5 * out / peak).astype(np.float32)


def mirex(est: str, tonic: int, minor: bool) -> float:
    """MIREX weighted key score: same 1, fifth 0.5, relative 0.3, parallel 0.2."""
    if not est:
        return 0.0
    name, mode = est.split()
    t, m = PITCH_NAMES.index(name), mode == "minor"
    if t == tonic and m == minor:
        return 1.0
    if m == minor and (t - tonic) % 12 in (5, 7):
        return 0.5
    if m != minor and (t - tonic) % 12 == (9 if not minor else 3):  # C major <-> A minor
        return 0.3
    if t == tonic and m != minor:
        return 0.2
    return 0.0


def plain_krumhansl(x: F32) -> str:
    """The usual recipe: STFT chroma (each bin's energy to its pitch class) summed, Krumhansl profiles."""
    n_fft, hop = 8192, 4096
    window = np.hanning(n_fft)
    freqs = np.arange(n_fft // 2 + 1) * SR / n_fft
    ok = (freqs > 50) & (freqs < 5000)
    pcs = (np.round(69 + 12 * np.log2(np.maximum(freqs, 1e-9) / 440.0)).astype(int)) % 12
    chroma = np.zeros(12)
    for i in range(0, max(1, x.size - n_fft), hop):
        spec = np.abs(np.fft.rfft(x[i : i + n_fft] * window, n=n_fft)) ** 2
        chroma += np.bincount(pcs[ok], weights=spec[ok], minlength=12)
    major, minor = (np.asarray(p) for p in PROFILES["krumhansl"])
    scores = [np.corrcoef(chroma, np.roll(major, t))[0, 1] for t in range(12)]
    scores += [np.corrcoef(chroma, np.roll(minor, t))[0, 1] for t in range(12)]
    i = int(np.argmax(scores))
    return f"{PITCH_NAMES[i % 12]} {'minor' if i >= 12 else 'major'}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sources", default="lmms,generated,sonic-pi")
    parser.add_argument("--tonics", type=int, default=12, help="tonics per progression and instrument")
    parser.add_argument("--drums", action="store_true", help="a drum loop under every progression")
    parser.add_argument("--verbose", action="store_true", help="print every miss")
    args = parser.parse_args()
    ours: dict[tuple[str, str], list[float]] = defaultdict(list)
    plain: dict[tuple[str, str], list[float]] = defaultdict(list)
    for source in args.sources.split(","):
        for k, voice in enumerate(instruments(source)):
            for j in range(args.tonics):
                tonic = (j * 12 // args.tonics + k) % 12
                for name, (minor, _) in PROGRESSIONS.items():
                    x = progression(voice, tonic, name)
                    if args.drums:
                        drums, _ = drum_pattern(120.0, x.size / SR, sr=SR, style="house")
                        x = (x + 0.5 * drums[: x.size]).astype(np.float32)
                    est = str(analyze_pcm(x, SR)["key"])
                    ours[(source, name)].append(mirex(est, tonic, minor))
                    plain[(source, name)].append(mirex(plain_krumhansl(x), tonic, minor))
                    if args.verbose and ours[(source, name)][-1] < 1.0:
                        truth = f"{PITCH_NAMES[tonic]} {'minor' if minor else 'major'}"
                        print(f"  {source} {k} {name} {truth}: read {est}", file=sys.stderr)
    sources = args.sources.split(",")
    print(
        "MIREX weighted key score, djmesh / plain Krumhansl on STFT chroma, same audio, same run"
        + (" (drums under every progression)" if args.drums else "")
        + ":\n"
    )
    print("| progression | " + " | ".join(f"{s} djmesh | {s} plain" for s in sources) + " |")
    print("|---|" + "---|---|" * len(sources))
    for name in PROGRESSIONS:
        cells = " | ".join(
            f"{np.mean(ours[(s, name)]):.3f} | {np.mean(plain[(s, name)]):.3f}" for s in sources
        )
        print(f"| {name} | {cells} |")
    totals = " | ".join(
        f"**{np.mean([v for n in PROGRESSIONS for v in ours[(s, n)]]):.3f}** | "
        f"{np.mean([v for n in PROGRESSIONS for v in plain[(s, n)]]):.3f}"
        for s in sources
    )
    counts = "/".join(str(sum(len(ours[(s, n)]) for n in PROGRESSIONS)) for s in sources)
    print(f"| all ({counts} tracks) | {totals} |")
    held = [s for s in sources if s not in TRAIN_SOURCES]
    if held:
        o = np.mean([v for s in held for n in PROGRESSIONS for v in ours[(s, n)]])
        p = np.mean([v for s in held for n in PROGRESSIONS for v in plain[(s, n)]])
        print(f"\nheld out ({', '.join(held)}): djmesh {o:.3f}, plain Krumhansl {p:.3f}")


if __name__ == "__main__":
    main()
