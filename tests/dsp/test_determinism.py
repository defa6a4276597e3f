"""Bit-identical JSON across processes and BLAS/OpenMP thread counts (consensus depends on it)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from djmesh.dsp.features import PcmFeed, extract, pcm_blocks
from tests.helpers.audio import chord_progression, crossfade_mix, drum_pattern, write_wav
from tests.helpers.features import assert_same_features

SCRIPT = """
import json, sys
from djmesh.dsp import analyze_path
print(json.dumps([analyze_path(p) for p in sys.argv[1:]], sort_keys=True, separators=(",", ":")))
"""

THREADS = ["1", "2", "4", "8"]


def _run(paths: list[str], threads: str) -> bytes:
    env = dict(os.environ)
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
        env[var] = threads
    out = subprocess.run(
        [sys.executable, "-c", SCRIPT, *paths], env=env, capture_output=True, check=True, timeout=120
    )
    return out.stdout


def test_json_bytes_identical_across_processes_and_thread_counts(tmp_path: Path) -> None:
    # two tracks crossfaded: exercises tempo, grid, key, loudness and segmentation in one file
    tracks = []
    for bpm, style, tonic, minor in ((127.0, "syncopated", 57, True), (124.0, "house", 60, False)):
        drums, _ = drum_pattern(bpm, 60.0, style=style, start=0.1)
        tracks.append(((drums + chord_progression(tonic, minor, 60.0)).astype(np.float32), bpm, 0.1))
    mono, _ = crossfade_mix(tracks, fade_s=12.0, offsets_ms=[17.0])
    wav = tmp_path / "mix.wav"
    write_wav(str(wav), np.stack([mono, 0.8 * mono], axis=1), 44100)
    paths = [str(wav)]
    lmms = Path("/usr/share/lmms/samples/beats/909beat01.ogg")
    if lmms.exists():
        paths.append(str(lmms))
    outputs = {t: _run(paths, t) for t in THREADS}
    first = outputs[THREADS[0]]
    assert b'"bpm":127.0' in first
    assert b'"transitions":[{' in first  # the crossfade was found, so segmentation ran
    for t, out in outputs.items():
        assert out == first, f"JSON differs with {t} threads"
    assert _run(paths, "1") == first  # and across repeated runs


@pytest.mark.parametrize(
    ("seconds", "limit", "piece"),
    [
        (7.3, None, 48_000),  # one-second segments, the last block partial
        (65_536 * 3 / 48_000, None, 960 * 50),  # whole blocks only: no partial last block
        (6.25, 200_000, 7_777),  # cut by the rules' set length inside a block
        (6.25, 65_536 * 2, 48_000),  # cut exactly at a block's end
        (0.1, None, 960),  # shorter than one block
    ],
)
def test_features_of_pcm_fed_in_pieces_are_the_bytes_of_the_whole_pass(
    seconds: float, limit: int | None, piece: int
) -> None:
    """A member runs the feature pass while the set arrives; it must read what a pass over the whole set
    reads, or its verdict would differ from a member that judged the stored set."""
    drums, _ = drum_pattern(126.0, seconds + 1, style="house", start=0.05, sr=48_000)
    audio = (drums + chord_progression(57, True, seconds + 1, sr=48_000))[: int(seconds * 48_000)]
    audio = audio.astype(np.float32)
    cut = audio if limit is None else audio[:limit]
    feed = PcmFeed(48_000, limit)
    for start in range(0, audio.size, piece):
        feed.feed(audio[start : start + piece])
        assert limit is None or feed.pushed <= limit  # nothing past the cut went through early
    assert_same_features(feed.finish(cut.size), extract(pcm_blocks(cut, 48_000), 48_000, 1))
