"""Streaming analysis: beats, tempo, key and levels from 20 ms chunks, with bounded memory."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest

from djmesh.dsp import BeatEvent, KeyUpdate, LevelUpdate, LiveAnalyzer, TempoUpdate
from tests.helpers.audio import chord_progression, drum_pattern, sine

SR = 44100
CHUNK = 882  # 20 ms


def _feed(la: LiveAnalyzer, x: np.ndarray, chunk: int = CHUNK) -> list[object]:
    out: list[object] = []
    for i in range(0, x.shape[0], chunk):
        out.extend(la.feed(x[i : i + chunk]))
    return out


@pytest.mark.parametrize(("style", "bpm"), [("offbeat", 128.0), ("dnb", 174.0), ("syncopated", 100.0)])
def test_live_beats_lock_onto_the_grid(style: str, bpm: float) -> None:
    x, ref = drum_pattern(bpm, 30.0, style=style, start=0.3)
    ups = _feed(LiveAnalyzer(SR, 1), x)
    beats = np.array([u.time for u in ups if isinstance(u, BeatEvent)])
    assert np.all(np.diff(beats) > 0)
    late = beats[beats > 8.0]
    expected = ref[(ref > 8.5) & (ref < 29.5)]
    err = np.array([late[np.argmin(np.abs(late - t))] - t for t in expected])
    assert np.max(np.abs(err)) < 0.010
    in_window = late[(late > 8.5 - 0.02) & (late < 29.5 + 0.02)]
    assert in_window.size == expected.size  # no doubled or dropped beats once locked
    tempos = [u.bpm for u in ups if isinstance(u, TempoUpdate)]
    assert tempos and tempos[-1] == pytest.approx(bpm, abs=0.1)


def test_beats_are_reported_within_one_chunk() -> None:
    x, _ = drum_pattern(124.0, 20.0, style="house", start=0.1)
    la = LiveAnalyzer(SR, 1)
    lags = []
    for i in range(0, x.size, CHUNK):
        now = (i + min(CHUNK, x.size - i)) / SR
        for u in la.feed(x[i : i + CHUNK]):
            if isinstance(u, BeatEvent):
                lags.append(now - u.time)
    assert lags and max(lags) <= CHUNK / SR + 1e-6
    assert min(lags) >= 0.0


def test_stereo_and_chunk_size_do_not_change_tempo() -> None:
    x, _ = drum_pattern(132.0, 16.0, style="house")
    stereo = np.stack([x, 0.5 * x], axis=1)
    a = LiveAnalyzer(SR, 2)
    b = LiveAnalyzer(SR, 2)
    _feed(a, stereo, 256)
    _feed(b, stereo, 4096)
    assert a.bpm == pytest.approx(132.0, abs=0.05)
    assert b.bpm == pytest.approx(132.0, abs=0.05)


def test_live_key() -> None:
    x = chord_progression(57, True, 12.0)
    keys = [u for u in _feed(LiveAnalyzer(SR, 1), x) if isinstance(u, KeyUpdate)]
    assert keys and keys[-1].key == "A minor" and keys[-1].camelot == "8A"


def test_levels_of_a_known_sine() -> None:
    x = sine(997.0, 3.0, sr=48000, amplitude=0.1)
    levels = [u for u in _feed(LiveAnalyzer(48000, 1), x, 960) if isinstance(u, LevelUpdate)]
    last = levels[-1]
    assert last.rms_db == pytest.approx(-23.01, abs=0.05)
    assert last.peak_db == pytest.approx(-20.0, abs=0.05)
    assert last.momentary_lufs == pytest.approx(-23.01, abs=0.05)
    assert len(levels) == 150  # one per chunk


def test_memory_does_not_grow_with_stream_length() -> None:
    x, _ = drum_pattern(126.0, 20.0, style="house")
    la = LiveAnalyzer(SR, 1)
    _feed(la, x)  # warm up: rings fill, first estimates done
    tracemalloc.start()
    _feed(la, x)
    first, _ = tracemalloc.get_traced_memory()
    _feed(la, x)
    _feed(la, x)
    second, _ = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert second - first < 64 * 1024


def test_bad_chunks() -> None:
    la = LiveAnalyzer(SR, 2)
    assert la.feed(np.zeros((0, 2), np.float32)) == []
    with pytest.raises(ValueError):
        la.feed(np.zeros((10, 3), np.float32))
    ups = la.feed(np.full((100, 2), np.nan, np.float32))  # NaNs are silenced, not propagated
    assert all(np.isfinite(u.rms_db) for u in ups if isinstance(u, LevelUpdate))
