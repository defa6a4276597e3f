"""Generated test signals with exact ground truth (drum patterns, chords, sines).

Deterministic: every noise source is seeded. Times are in seconds, output float32.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

F32 = npt.NDArray[np.float32]
SR = 44100


def _kick(sr: int) -> F32:
    t = np.arange(int(0.25 * sr)) / sr
    freq = 50.0 + 100.0 * np.exp(-t * 30.0)
    phase = 2 * np.pi * np.cumsum(freq) / sr
    return (np.sin(phase) * np.exp(-t * 12.0)).astype(np.float32)


def _noise_hit(sr: int, length: float, decay: float, seed: int, highpass: bool) -> F32:
    rng = np.random.default_rng(seed)
    n = int(length * sr)
    x = rng.standard_normal(n)
    if highpass:
        x = np.diff(np.diff(x, prepend=0.0), prepend=0.0) / 4.0
    return (x * np.exp(-np.arange(n) / sr * decay)).astype(np.float32)


def _place(out: F32, hit: F32, times: npt.ArrayLike, gain: float, sr: int) -> None:
    for t in np.asarray(times, dtype=np.float64):
        i = int(round(t * sr))
        if i >= out.size or i < 0:
            continue
        seg = hit[: out.size - i]
        out[i : i + seg.size] += gain * seg


def drum_pattern(
    bpm: float,
    duration: float,
    *,
    sr: int = SR,
    start: float = 0.0,
    style: str = "house",
    hat_gain: float = 0.6,
) -> tuple[F32, npt.NDArray[np.float64]]:
    """A drum loop and its beat times.

    Styles: ``house`` (kick every beat, loud open hats off the beat, clap on 2 and 4),
    ``offbeat`` (kick on beats, very loud hats off the beat — what fools aubio),
    ``syncopated`` (kick on 1, 2-and, 3; snare 2, 4; 16th hats), ``dnb`` (two-step at the given
    tempo: kick 1 and 3-and, snare 2 and 4, 8th hats), ``clicks`` (a click per beat only).
    """
    n = int(duration * sr)
    out = np.zeros(n, np.float32)
    period = 60.0 / bpm
    beats = np.arange(start, duration - 1e-9, period)
    kick = _kick(sr)
    snare = _noise_hit(sr, 0.2, 25.0, 1, highpass=False)
    hat = _noise_hit(sr, 0.08, 60.0, 2, highpass=True)
    click = np.zeros(int(0.01 * sr), np.float32)
    click[:20] = np.hanning(40)[20:].astype(np.float32)
    bars = beats[::4]
    if style == "clicks":
        _place(out, click, beats, 0.8, sr)
    elif style in ("house", "offbeat"):
        _place(out, kick, beats, 0.8, sr)
        _place(out, hat, beats + period / 2, hat_gain * (3.0 if style == "offbeat" else 1.0), sr)
        if style == "house":
            _place(out, snare, np.concatenate([bars + period, bars + 3 * period]), 0.4, sr)
    elif style == "syncopated":
        _place(out, kick, np.concatenate([bars, bars + 1.5 * period, bars + 2 * period]), 0.8, sr)
        _place(out, snare, np.concatenate([bars + period, bars + 3 * period]), 0.5, sr)
        _place(out, hat, np.arange(start, duration, period / 4), hat_gain * 0.5, sr)
    elif style == "dnb":
        _place(out, kick, np.concatenate([bars, bars + 2.5 * period]), 0.8, sr)
        _place(out, snare, np.concatenate([bars + period, bars + 3 * period]), 0.6, sr)
        _place(out, hat, np.arange(start, duration, period / 2), hat_gain * 0.5, sr)
    else:
        raise ValueError(style)
    peak = float(np.max(np.abs(out))) or 1.0
    return (0.5 * out / peak).astype(np.float32), beats[beats < duration]


def _soft_kick(sr: int) -> F32:
    """The kick with a 4 ms fade-in: no click above 4 kHz, as most sampled kicks."""
    kick = _kick(sr)
    fade = int(0.004 * sr)
    kick[:fade] *= (0.5 - 0.5 * np.cos(np.pi * np.arange(fade) / fade)).astype(np.float32)
    return kick


def _square(freq: float, n: int, sr: int, decay: float) -> F32:
    t = np.arange(n) / sr
    return (np.sign(np.sin(2 * np.pi * freq * t)) * np.exp(-t * decay)).astype(np.float32)


def groove(bpm: float, duration: float, style: str, *, sr: int = SR) -> F32:
    """Grooves that trap a tempo tracker into a wrong reading.

    ``arpeggio``: four on the floor, clap on 2 and 4, open hat off the beat and a three-note
    arpeggio on every sixteenth (restarting each bar), whose dotted-eighth cycle invites a reading at
    two thirds of the tempo. ``offbeat_open``: a soft-attack kick on every beat and an open hat only
    off the beat, which to the hats alone is the eighths of half the tempo. ``boombap``: hip hop,
    kick on 1 and the "and" of 3, snare on 2 and 4, eighth hats, which is read at half tempo
    (the fast octave is the hats' eighths).
    """
    step = 60.0 / bpm / 4.0
    steps = np.arange(0.0, duration, step)
    index = np.arange(steps.size)
    out = np.zeros(int(duration * sr), np.float32)
    snare = _noise_hit(sr, 0.2, 25.0, 1, highpass=False)
    open_hat = _noise_hit(sr, 0.2, 15.0, 3, highpass=True)
    if style == "arpeggio":
        _place(out, _kick(sr), steps[index % 4 == 0], 0.8, sr)
        _place(out, snare, steps[index % 8 == 4], 0.5, sr)
        _place(out, open_hat, steps[index % 4 == 2], 0.4, sr)
        notes = (220.0, 261.6, 329.6)
        for k in range(steps.size):
            cycle = (k % 16) % 3
            _place(
                out,
                _square(notes[cycle], int(step * sr), sr, 30.0),
                [steps[k]],
                1.2 if cycle == 0 else 0.48,
                sr,
            )
    elif style == "offbeat_open":
        _place(out, _soft_kick(sr), steps[index % 4 == 0], 0.8, sr)
        _place(out, open_hat, steps[index % 4 == 2], 0.5, sr)
    elif style == "boombap":
        bar = index % 16
        _place(out, _soft_kick(sr), steps[(bar == 0) | (bar == 10)], 0.8, sr)
        _place(out, snare, steps[(bar == 4) | (bar == 12)], 0.6, sr)
        _place(out, _noise_hit(sr, 0.05, 80.0, 2, highpass=True), steps[index % 2 == 0], 0.3, sr)
    else:
        raise ValueError(style)
    peak = float(np.max(np.abs(out))) or 1.0
    return (0.5 * out / peak).astype(np.float32)


def chord_progression(
    tonic_midi: int, minor: bool, duration: float, *, sr: int = SR, bass: bool = True
) -> F32:
    """I-IV-V-I (major) or i-iv-v-i (natural minor) with harmonic-rich tones, one chord per second."""
    third = 3 if minor else 4
    degrees = [(0, third, 7), (5, 5 + third, 12), (7, 7 + (3 if minor else 4), 14), (0, third, 7)]
    n = int(duration * sr)
    out = np.zeros(n, np.float64)
    t = np.arange(int(sr * 1.0)) / sr
    env = np.minimum(1.0, t * 50) * np.exp(-t * 1.5)
    for i in range(int(np.ceil(duration))):
        chord = degrees[i % 4]
        notes = [tonic_midi + d for d in chord]
        if bass:
            notes.append(tonic_midi - 12 + chord[0])
        tone = np.zeros(t.size)
        for m in notes:
            f = 440.0 * 2 ** ((m - 69) / 12)
            for h in range(1, 5):
                if f * h < sr / 2:
                    tone += np.sin(2 * np.pi * f * h * t) / h
        a = i * sr
        seg = tone[: max(0, min(t.size, n - a))] * env[: max(0, min(t.size, n - a))]
        out[a : a + seg.size] += seg
    return (0.3 * out / np.max(np.abs(out))).astype(np.float32)


def sine(freq: float, duration: float, *, sr: int = 48000, amplitude: float = 1.0) -> F32:
    t = np.arange(int(duration * sr)) / sr
    return (amplitude * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def write_wav(path: str, samples: F32, sr: int) -> None:
    """16-bit PCM WAV via the standard library (no extra dependency)."""
    import wave

    arr = np.asarray(samples, dtype=np.float32)
    if arr.ndim == 1:
        arr = arr[:, None]
    pcm = (np.clip(arr, -1.0, 1.0) * 32767.0).round().astype("<i2")
    with wave.open(path, "wb") as w:
        w.setnchannels(arr.shape[1])
        w.setsampwidth(2)
        w.setframerate(sr)
        w.writeframes(pcm.tobytes())


def shift_pitch(note: F32, semitones: float) -> F32:
    """Resample a recorded note up/down by ``semitones`` (duration changes, as on a sampler)."""
    ratio = 2.0 ** (semitones / 12.0)
    pos = np.arange(0.0, note.size - 1, ratio)
    return np.interp(pos, np.arange(note.size), note).astype(np.float32)


def sampled_progression(
    note: F32, note_midi: float, tonic_midi: int, minor: bool, *, sr: int = SR, chord_s: float = 1.5
) -> F32:
    """A progression built from a real recorded note: I-IV-V-I in major, i-VI-VII-i (Aeolian) in minor.

    Each chord stacks root, third and fifth plus the root an octave below; this is how a
    sampler plays a chord from one recording, so the key is known by construction.
    """
    if minor:
        chords = [(0, 3, 7), (8, 12, 15), (10, 14, 17), (0, 3, 7)]
    else:
        chords = [(0, 4, 7), (5, 9, 12), (7, 11, 14), (0, 4, 7)]
    n = int(chord_s * sr)
    out = np.zeros(n * len(chords) * 2, np.float32)
    for rep in range(2):
        for i, chord in enumerate(chords):
            a = (rep * len(chords) + i) * n
            for d in (*chord, chord[0] - 12):
                tone = shift_pitch(note, tonic_midi + d - note_midi)[:n]
                out[a : a + tone.size] += tone
    peak = float(np.max(np.abs(out))) or 1.0
    return (0.5 * out / peak).astype(np.float32)


def crossfade_mix(
    tracks: list[tuple[F32, float, float]],
    *,
    sr: int = SR,
    fade_s: float = 16.0,
    offsets_ms: list[float] | None = None,
) -> tuple[F32, list[dict[str, float]]]:
    """Mix mono ``tracks`` of (signal, bpm, first_beat_s) with linear crossfades of ``fade_s``.

    Each incoming track is placed so its beats fall ``offsets_ms[i]`` after the outgoing
    track's beats, as a DJ who beat-matched (0 ms) or not quite. Returns the mix and the
    true transitions: start, end, centre (s) and beat_offset_ms.
    """
    offsets_ms = offsets_ms or [0.0] * (len(tracks) - 1)
    placed: list[tuple[float, F32, float, float]] = []  # (start_s, signal, bpm, first_beat_abs)
    truth: list[dict[str, float]] = []
    for i, (sig, bpm, first) in enumerate(tracks):
        if i == 0:
            placed.append((0.0, sig, bpm, first))
            continue
        prev_start, prev_sig, prev_bpm, prev_first = placed[-1]
        fade_start = prev_start + prev_sig.size / sr - fade_s
        period = 60.0 / prev_bpm
        k = np.ceil((fade_start - prev_first) / period)
        beat_out = prev_first + k * period  # an outgoing beat at the fade start
        start = beat_out + offsets_ms[i - 1] / 1000.0 - first
        placed.append((start, sig, bpm, start + first))
        end_prev = prev_start + prev_sig.size / sr
        centre = (start + end_prev) / 2
        # offset as the judge sees it at the centre: nearest outgoing beat, nearest incoming beat to it
        b_out = prev_first + np.round((centre - prev_first) / period) * period
        p_in = 60.0 / bpm
        b_in = start + first + np.round((b_out - start - first) / p_in) * p_in
        truth.append(
            {
                "start": start,
                "end": end_prev,
                "centre": centre,
                "beat_offset_ms": float((b_in - b_out) * 1000.0),
            }
        )
    total = int(np.ceil((placed[-1][0] + placed[-1][1].size / sr) * sr))
    out = np.zeros(total, np.float64)
    for i, (start, sig, _, _) in enumerate(placed):
        a = int(round(start * sr))
        g = np.ones(sig.size)
        if i > 0:
            n_in = int(round((truth[i - 1]["end"] - start) * sr))
            g[:n_in] = np.linspace(0.0, 1.0, n_in)
        if i < len(placed) - 1:
            n_out = int(round((truth[i]["end"] - truth[i]["start"]) * sr))
            g[sig.size - n_out :] *= np.linspace(1.0, 0.0, n_out)
        out[a : a + sig.size] += sig * g
    return out.astype(np.float32), truth
