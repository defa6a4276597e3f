"""Benchmark material for djmesh.dsp: Debian lmms-common loops with tempo from their length.

Ground truth comes from construction. Each loop is cut to a whole number of beats
(n below), so tempo = n * 60 / length. n is the count that makes the loop one or
two 4/4 bars with the onset grid seen in the file (16th-note hats of the rave
loops sit on a 180 BPM grid, not 90). techno_synth02 (3.836 s: 36 equal notes,
8 or 9 beats) is left out as ambiguous. Beats are assumed to start at the loop
start, which is how loops are cut.
"""

from __future__ import annotations

import sys
from pathlib import Path

import av
import numpy as np
import numpy.typing as npt

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.helpers.audio import crossfade_mix, shift_pitch  # noqa: E402

LMMS = Path("/usr/share/lmms/samples")
F32 = npt.NDArray[np.float32]

#: loop (relative to LMMS) -> beats in the file
LOOP_BEATS: dict[str, int] = {
    "beats/909beat01.ogg": 8,
    "beats/break01.ogg": 4,
    "beats/break02.ogg": 4,
    "beats/break03.ogg": 4,
    "beats/electro_beat01.ogg": 8,
    "beats/electro_beat02.ogg": 4,
    "beats/house_loop01.ogg": 4,
    "beats/jungle01.ogg": 8,
    "beats/rave_hihat01.ogg": 8,
    "beats/rave_hihat02.ogg": 8,
    "beats/rave_kick01.ogg": 8,
    "beats/rave_kick02.ogg": 8,
    "beats/rave_snare01.ogg": 8,
    "bassloops/briff01.ogg": 4,
    "bassloops/rave_bass01.ogg": 8,
    "bassloops/rave_bass02.ogg": 8,
    "bassloops/tb303_01.ogg": 8,
    "bassloops/techno_bass01.ogg": 4,
    "bassloops/techno_bass02.ogg": 4,
    "bassloops/techno_synth01.ogg": 8,
    "bassloops/techno_synth03.ogg": 8,
    "bassloops/techno_synth04.ogg": 16,
}

#: recorded single notes (relative to LMMS) -> MIDI pitch, measured by harmonic product spectrum
NOTES: dict[str, float] = {
    "instruments/piano02.ogg": 48.0,
    "instruments/piano01.ogg": 60.0,
    "instruments/church_organ03.ogg": 57.0,
    "instruments/e_organ01.ogg": 59.9,
    "instruments/trumpet01.ogg": 68.94,
    "instruments/church_organ02.ogg": 69.02,
}


def require_lmms() -> None:
    if not (LMMS / "beats").is_dir():
        sys.exit("lmms-common is not installed: apt-get install -y lmms-common")


def load(path: Path | str, rate: int = 44100) -> F32:
    """Decode to float32 stereo (n, 2) at ``rate`` with PyAV."""
    with av.open(str(path)) as c:
        s = c.streams.audio[0]
        rs = av.AudioResampler(format="fltp", layout="stereo", rate=rate)
        parts = [f.to_ndarray() for fr in c.decode(s) for f in rs.resample(fr)]
        parts += [f.to_ndarray() for f in rs.resample(None)]
    return np.concatenate(parts, axis=1).T.astype(np.float32)


def loop_truth(name: str, rate: int = 44100) -> tuple[F32, float, float]:
    """(audio, length_s, bpm) of one loop."""
    x = load(LMMS / name, rate)
    length = x.shape[0] / rate
    return x, length, LOOP_BEATS[name] * 60.0 / length


def tiled(x: F32, seconds: float) -> F32:
    return np.tile(x, (int(np.ceil(seconds * 1.0 / (x.shape[0] / 44100))), 1))[: int(seconds * 44100)]


def vinyl(x: F32, ratio: float) -> F32:
    """Play faster by ``ratio`` (pitch and tempo together, as a turntable's pitch fader does)."""
    semis = 12.0 * np.log2(ratio)
    return np.stack([shift_pitch(x[:, c], semis) for c in range(x.shape[1])], axis=1)


def build_mix(
    names: list[list[str]], seed: int, *, track_s: float = 75.0, fade_s: float = 16.0, rate: int = 44100
) -> tuple[F32, list[dict[str, float]], list[float]]:
    """A continuous mix: each track layers loops (beat + bass), pitched to a tempo near 128 BPM.

    Returns mono mix, true transitions and true per-track tempo.
    """
    rng = np.random.default_rng(seed)
    tracks = []
    tempos = []
    for layer in names:
        target = float(rng.uniform(122.0, 134.0))
        sig = np.zeros(int(track_s * rate), np.float32)
        for name in layer:
            x, _, bpm = loop_truth(name, rate)
            octave = 2.0 ** np.round(np.log2(target / bpm))
            y = vinyl(x, target / (bpm * octave)).mean(axis=1)
            sig += np.tile(y, int(np.ceil(sig.size / y.size)))[: sig.size]
        tracks.append((sig / max(1e-9, float(np.max(np.abs(sig)))) * 0.5, target, 0.0))
        tempos.append(target)
    offsets = [float(v) for v in rng.uniform(-40.0, 40.0, len(tracks) - 1)]
    mix, truth = crossfade_mix(tracks, sr=rate, fade_s=fade_s, offsets_ms=offsets)
    return mix, truth, tempos
