"""Tempo and beat grid on generated drum patterns with exact ground truth."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from djmesh.dsp import analyze_pcm
from djmesh.dsp.beats import bar_profile
from tests.helpers.audio import chord_progression, drum_pattern, groove
from tests.helpers.metrics import f_measure

CASES = [
    ("clicks", 120.0),
    ("house", 124.0),
    ("offbeat", 128.0),  # off-beat hats three times louder than the kick: beats must stay on the kick
    ("offbeat", 140.0),
    ("syncopated", 100.0),
    ("syncopated", 132.0),
    ("dnb", 174.0),  # must be reported DJ-style at 174, not 87
    ("house", 90.0),
]


@pytest.mark.parametrize(("style", "bpm"), CASES)
def test_tempo_and_beats(style: str, bpm: float) -> None:
    x, ref = drum_pattern(bpm, 30.0, style=style, start=0.25)
    r = analyze_pcm(x, 44100)
    assert r["bpm"] == pytest.approx(bpm, abs=0.05)
    est = np.asarray(r["beats"])
    assert f_measure(est, ref) >= 0.97
    # beats sit on the true onsets, not merely inside the 70 ms window
    inner = ref[2:-2]
    err = np.array([est[np.argmin(np.abs(est - t))] - t for t in inner])
    assert np.max(np.abs(err)) < 0.006


def test_off_beat_hats_do_not_shift_grid_by_half_a_beat() -> None:
    x, ref = drum_pattern(125.0, 20.0, style="offbeat", start=0.5, hat_gain=1.0)
    est = np.asarray(analyze_pcm(x, 44100)["beats"])
    half = 60.0 / 125.0 / 2
    assert f_measure(est, ref) > 0.95
    assert f_measure(est, ref + half) < 0.1


def test_bpm_range_selects_octave() -> None:
    x, _ = drum_pattern(174.0, 20.0, style="dnb")
    assert analyze_pcm(x, 44100, bpm_range=(60.0, 100.0))["bpm"] == pytest.approx(87.0, abs=0.05)
    assert analyze_pcm(x, 44100)["bpm"] == pytest.approx(174.0, abs=0.05)


@pytest.mark.parametrize(
    ("style", "bpm"),
    [
        ("arpeggio", 128.0),  # was read at 85.3 (two thirds): the arpeggio's dotted eighths
        ("arpeggio", 132.0),  # was read at 87.9
        ("offbeat_open", 142.0),  # was read at 71 (half): off-beat hats alone look like slow eighths
        ("offbeat_open", 150.0),  # was read at 75
        ("boombap", 89.0),  # hip hop must stay at 89, not 178
        ("boombap", 84.0),
    ],
)
def test_no_range_tempo_escapes_the_two_thirds_and_half_traps(style: str, bpm: float) -> None:
    r = analyze_pcm(groove(bpm, 30.0, style), 44100)
    assert r["bpm"] == pytest.approx(bpm, rel=0.01)


def test_tempo_is_independent_of_start_offset_and_rate() -> None:
    a, _ = drum_pattern(128.0, 20.0, style="house", start=0.0, sr=48000)
    b, _ = drum_pattern(128.0, 20.0, style="house", start=0.37, sr=22050)
    assert analyze_pcm(a, 48000)["bpm"] == pytest.approx(128.0, abs=0.02)
    assert analyze_pcm(b, 22050)["bpm"] == pytest.approx(128.0, abs=0.02)


def test_downbeats_are_every_fourth_beat() -> None:
    x, _ = drum_pattern(124.0, 20.0, style="house", start=0.25)
    r = analyze_pcm(x, 44100)
    beats, downs = r["beats"], r["downbeats"]
    assert isinstance(beats, list) and isinstance(downs, list)
    idx = [beats.index(d) for d in downs]
    assert len(downs) >= 8
    assert all(b - a == 4 for a, b in itertools.pairwise(idx))


@pytest.mark.parametrize("style", ["house", "offbeat", "syncopated"])
def test_downbeats_follow_chord_changes(style: str) -> None:
    # four-on-the-floor drums carry no bar phase; chords changing on bar lines do
    bpm = 124.0
    bar = 4 * 60.0 / bpm
    drums, _ = drum_pattern(bpm, 24.0, style=style, start=0.25)
    chords = np.zeros_like(drums)
    one = chord_progression(57, True, 4.0)  # four 1 s chords: place each one bar long
    for i, t in enumerate(np.arange(0.25, 24.0, bar)):
        a = int(t * 44100)
        seg = one[(i % 4) * 44100 : (i % 4 + 1) * 44100][: drums.size - a]
        chords[a : a + seg.size] += seg
    r = analyze_pcm(drums + chords, 44100)
    ref = np.arange(0.25, 24.0, bar)
    assert f_measure(np.asarray(r["downbeats"]), ref) >= 0.9


@pytest.mark.parametrize("seconds", [9.0, 10.24, 11.0])
def test_tempo_of_a_short_span_ignores_lags_longer_than_it(seconds: float) -> None:
    # A track's core between two blends can be ~10 s: 16 beats at 85 BPM (11.3 s) is longer than the
    # span, and the autocorrelation there (wrapped FFT, divided by an overlap of one frame) read
    # a hip hop core at 83.6 BPM (hydrogen set 21 in bench/judge_eval.py).
    from djmesh.dsp.features import extract, pcm_blocks
    from djmesh.dsp.tempo import estimate_tempo

    x = groove(85.0, seconds, "boombap")
    f = extract(pcm_blocks(x, 44100), 44100, 1)
    est = estimate_tempo(f.broad + f.low, f.onset_rate, (60.0, 137.5), hats=f.high, kicks=f.low)
    assert est.bpm == pytest.approx(85.0, rel=0.003)


def test_autocorrelation_is_zero_past_the_input() -> None:
    from djmesh.dsp.tempo import autocorrelation

    x = np.random.default_rng(1).random(1024)
    acf = autocorrelation(x, 1600)
    assert np.all(acf[1024:] == 0.0)


def test_a_bar_profile_puts_each_hit_on_its_beat_and_sixteenth() -> None:
    period, bars = 48.0, 16
    frames = np.arange(4 * bars) * period + 10.0
    low, broad = np.zeros(int(frames[-1] + 2 * period)), np.zeros(int(frames[-1] + 2 * period))
    for bar in range(bars):
        one = int(frames[4 * bar])
        low[one] = 1.0  # the kick on the one
        broad[one + int(period) + int(period / 2)] = 1.0  # a hat on the "and" of two
    profile = bar_profile(frames, low.astype(np.float32), broad.astype(np.float32))
    assert profile is not None and profile.shape == (2, 4, 4)
    assert np.unravel_index(np.argmax(profile[0]), (4, 4)) == (0, 0)
    assert np.unravel_index(np.argmax(profile[1]), (4, 4)) == (1, 2)
    # a grid starting on beat two moves the groove with it
    moved = bar_profile(frames[1:], low.astype(np.float32), broad.astype(np.float32))
    assert moved is not None and np.unravel_index(np.argmax(moved[0]), (4, 4)) == (3, 0)
    assert bar_profile(frames[:7], low, broad) is None  # too short to say
    assert bar_profile(frames, np.zeros_like(low), broad) is None  # a flat band says nothing
