"""Bit-identical JSON across processes and BLAS/OpenMP thread counts (consensus depends on it)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np

from tests.helpers.audio import chord_progression, crossfade_mix, drum_pattern, write_wav

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
