"""Two sets of the same six tracks: one clean and beat-matched, one a train-wreck."""

from __future__ import annotations

from pathlib import Path

import pytest

from djmesh.judge.synth import LMMS, BuiltSet, build_set, clean, train_wreck
from tests.helpers.audio import write_wav


@pytest.fixture(scope="session")
def built_sets() -> tuple[BuiltSet, BuiltSet]:
    if not (LMMS / "beats").is_dir():
        pytest.skip("lmms-common loops not installed (apt-get install lmms-common); CI installs them")
    return build_set(clean()), build_set(train_wreck())


@pytest.fixture(scope="session")
def set_files(
    built_sets: tuple[BuiltSet, BuiltSet], tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("sets")
    paths = folder / "clean.wav", folder / "wreck.wav"
    for path, built in zip(paths, built_sets, strict=True):
        write_wav(str(path), built.samples, built.sample_rate)
    return paths
