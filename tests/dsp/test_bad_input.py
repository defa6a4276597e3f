"""Bad inputs give a one-line error and never an exception from analyze_path."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from djmesh.dsp import AnalysisError, analyze_path, analyze_pcm, format_summary
from tests.helpers.audio import drum_pattern, write_wav


def _err(path: str) -> str:
    r = analyze_path(path)
    assert set(r) == {"path", "error"}
    assert r["path"] == path
    msg = str(r["error"])
    assert msg and "\n" not in msg
    return msg


def test_missing_file(tmp_path: Path) -> None:
    p = str(tmp_path / "nope.wav")
    assert _err(p) == f"file does not exist: {p}"


def test_empty_file(tmp_path: Path) -> None:
    p = tmp_path / "empty.wav"
    p.write_bytes(b"")
    assert "empty" in _err(str(p))


def test_text_file(tmp_path: Path) -> None:
    p = tmp_path / "notes.txt"
    p.write_text("this is not audio\n" * 50)
    msg = _err(str(p))
    assert "not a decodable audio file" in msg or "not an audio file" in msg


def test_corrupt_bytes(tmp_path: Path) -> None:
    p = tmp_path / "noise.mp3"
    p.write_bytes(np.random.default_rng(7).integers(0, 256, 50_000, dtype=np.uint8).tobytes())
    _err(str(p))


def test_truncated_ogg(tmp_path: Path) -> None:
    good = tmp_path / "good.wav"
    x, _ = drum_pattern(120.0, 6.0)
    write_wav(str(good), x, 44100)
    bad = tmp_path / "bad.wav"
    bad.write_bytes(good.read_bytes()[:30])  # header cut in half
    _err(str(bad))


def test_directory(tmp_path: Path) -> None:
    assert "directory" in _err(str(tmp_path))


def test_silent_file(tmp_path: Path) -> None:
    p = tmp_path / "silence.wav"
    write_wav(str(p), np.zeros(44100 * 5, np.float32), 44100)
    assert _err(str(p)) == "audio is silent"


def test_one_second_file(tmp_path: Path) -> None:
    p = tmp_path / "short.wav"
    x, _ = drum_pattern(120.0, 1.0)
    write_wav(str(p), x, 44100)
    assert _err(str(p)).startswith("audio too short: 1.00 s")


def test_wav_header_without_samples(tmp_path: Path) -> None:
    p = tmp_path / "nodata.wav"
    write_wav(str(p), np.zeros(0, np.float32), 44100)
    assert os.path.getsize(p) > 0
    _err(str(p))


def test_good_file_round_trip(tmp_path: Path) -> None:
    p = tmp_path / "house.wav"
    x, _ = drum_pattern(126.0, 12.0, style="house")
    write_wav(str(p), np.stack([x, x], axis=1), 44100)
    r = analyze_path(str(p))
    assert "error" not in r
    assert r["sample_rate"] == 44100 and r["duration"] == 12.0
    assert r["bpm"] == pytest.approx(126.0, abs=0.05)
    for field in (
        "bpm_confidence",
        "beats",
        "downbeats",
        "key",
        "camelot",
        "key_confidence",
        "loudness_lufs",
        "true_peak_dbtp",
        "clipped_fraction",
        "tracks",
        "transitions",
    ):
        assert field in r
    text = format_summary(r)
    assert "126" in text and str(p) in text


def test_error_summary_is_readable() -> None:
    assert "error: file does not exist" in format_summary(analyze_path("/nonexistent/x.wav"))


def test_analyze_pcm_raises() -> None:
    with pytest.raises(AnalysisError, match="silent"):
        analyze_pcm(np.zeros(44100 * 3, np.float32), 44100)
    with pytest.raises(AnalysisError, match="too short"):
        analyze_pcm(np.full(44100, 0.1, np.float32), 44100)
    with pytest.raises(AnalysisError):
        analyze_pcm(np.zeros(0, np.float32), 44100)
    with pytest.raises(AnalysisError, match="NaN"):
        analyze_pcm(np.full(44100 * 3, np.nan, np.float32), 44100)
