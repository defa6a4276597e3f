"""The benchmarks' folder (``bench/``), for tests of the material and readers the benchmarks use."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from djmesh.judge.synth import BuiltSet, Defects

BENCH = Path(__file__).resolve().parents[2] / "bench"


def judge_material() -> ModuleType:
    """``bench/judge_material.py``, imported as ``bench/judge_eval.py`` imports it (its folder on the path, once)."""
    if str(BENCH) not in sys.path:
        sys.path.insert(0, str(BENCH))
    return importlib.import_module("judge_material")


#: each sequenced source's samples folder in ``bench/judge_material.py``, and the package that installs it
_MATERIAL = {"sonic-pi": ("SONIC_PI", "sonic-pi-samples"), "hydrogen": ("HYDROGEN", "hydrogen-drumkits")}


def bench_set(
    source: str, bpm: float, set_number: int, *, align_attacks: bool = False, defects: Defects | None = None
) -> BuiltSet:
    """The clean ``source`` set ``set_number`` of ``bench/judge_eval.py`` at ``bpm`` (its bars per track), or its
    copy with ``defects``; with ``align_attacks`` as its ``--align-attacks`` renders it (each one-shot's attack
    on its step). Skips where the source's samples are not installed."""
    from djmesh.judge.synth import Defects, SetSpec, build_set

    material = judge_material()
    folder, package = _MATERIAL[source]
    if not getattr(material, folder).is_dir():
        pytest.skip(f"{source} samples not installed (scripts/setup installs {package})")
    spec = SetSpec(
        bpm=bpm,
        bars_per_track=material.bars_per_track(bpm),
        first_track=set_number,
        seed=set_number,
        defects=defects or Defects(),
    )
    was, material.ALIGN_ATTACKS = material.ALIGN_ATTACKS, align_attacks
    try:
        return build_set(spec, make_track=material.track_maker(source, set_number))
    finally:
        material.ALIGN_ATTACKS = was
