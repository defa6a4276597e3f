"""`analyze_path(progress=...)`: how far a long analysis has got, without changing its result."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np

from djmesh.dsp import AnalysisProgress, analyze_path
from djmesh.dsp.decode import PcmBlock, StreamInfo
from djmesh.dsp.progress import DECODE_SHARE, STEP_SECONDS, reported
from tests.helpers.audio import drum_pattern, write_wav

SR = 44100


def groove(tmp_path: Path, seconds: float) -> Path:
    samples, _ = drum_pattern(124, seconds, sr=SR)
    path = tmp_path / "groove.wav"
    write_wav(str(path), samples, SR)
    return path


def test_fractions_rise_from_zero_to_one_and_the_result_is_the_same(tmp_path: Path) -> None:
    path = str(groove(tmp_path, 120.0))
    seen: list[AnalysisProgress] = []
    result = analyze_path(path, progress=seen.append)
    assert "error" not in result
    assert result == analyze_path(path)  # reporting changes nothing in the (consensus-compared) JSON

    fractions = [p.fraction for p in seen]
    assert fractions[0] == 0.0 and fractions[-1] == 1.0
    assert all(f is not None for f in fractions)
    assert fractions == sorted(fractions)  # type: ignore[type-var]
    during = [f for f in fractions if f is not None and 0.0 < f < DECODE_SHARE]
    assert len(during) >= 10  # a long file is reported as it goes, not only at both ends
    seconds = [p.seconds for p in seen]
    assert seconds == sorted(seconds) and abs(seconds[-1] - 120.0) < 0.1


def test_a_compressed_file_knows_its_length_too(tmp_path: Path) -> None:
    samples, _ = drum_pattern(124, 40.0, sr=SR)
    path = tmp_path / "groove.flac"
    with av.open(str(path), "w") as out:
        stream = out.add_stream("flac", rate=SR, layout="mono")
        pcm = (np.clip(samples, -1, 1) * 32767).astype(np.int16)[None, :]
        frame = av.AudioFrame.from_ndarray(pcm, format="s16", layout="mono")
        frame.sample_rate = SR
        for packet in stream.encode(frame):
            out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    seen: list[AnalysisProgress] = []
    assert "error" not in analyze_path(str(path), progress=seen.append)
    assert seen[0].fraction == 0.0 and seen[-1].fraction == 1.0
    assert any(p.fraction is not None and 0.3 < p.fraction < 0.7 for p in seen)


def test_a_bad_input_is_an_error_result_whatever_the_callback(tmp_path: Path) -> None:
    seen: list[AnalysisProgress] = []
    result = analyze_path(str(tmp_path / "missing.wav"), progress=seen.append)
    assert "does not exist" in str(result["error"])
    assert all(p.fraction != 1.0 for p in seen)  # never "done" for what failed


def test_without_a_length_the_seconds_decoded_are_reported() -> None:
    """A live stream does not say how long it is: no fraction, but the audio decoded so far."""
    info = StreamInfo(sample_rate=SR, channels=1, codec="pcm", duration=None)
    blocks = [PcmBlock(np.zeros((1, SR), np.float32), np.zeros(0, np.float32)) for _ in range(35)]
    seen: list[AnalysisProgress] = []
    assert list(reported(blocks, info, seen.append)) == blocks
    assert all(p.fraction is None for p in seen)
    assert [p.seconds for p in seen] == [0.0, STEP_SECONDS, 2 * STEP_SECONDS, 3 * STEP_SECONDS]
