"""The benchmarks' folder (``bench/``), for tests of the material and readers the benchmarks use."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from djmesh.judge.synth import BuiltSet

BENCH = Path(__file__).resolve().parents[2] / "bench"


def judge_material() -> ModuleType:
    """``bench/judge_material.py``, imported as ``bench/judge_eval.py`` imports it (its folder on the path, once)."""
    if str(BENCH) not in sys.path:
        sys.path.insert(0, str(BENCH))
    return importlib.import_module("judge_material")


def sonic_pi_set(bpm: float, set_number: int) -> BuiltSet:
    """The clean sonic-pi set ``set_number`` of ``bench/judge_eval.py`` at ``bpm`` (its bars per track); skips
    where sonic-pi-samples is not installed."""
    from djmesh.judge.synth import SetSpec, build_set

    material = judge_material()
    if not material.SONIC_PI.is_dir():
        pytest.skip("sonic-pi samples not installed (scripts/setup installs sonic-pi-samples)")
    spec = SetSpec(
        bpm=bpm, bars_per_track=material.bars_per_track(bpm), first_track=set_number, seed=set_number
    )
    return build_set(spec, make_track=material.track_maker("sonic-pi", set_number))


def hydrogen_set(bpm: float, set_number: int, *, align_attacks: bool = False) -> BuiltSet:
    """The clean hydrogen set ``set_number`` of ``bench/judge_eval.py`` at ``bpm``; with ``align_attacks``
    as its ``--align-attacks`` renders it (each one-shot's attack on its step). Skips where the kits are
    not installed."""
    from djmesh.judge.synth import SetSpec, build_set

    material = judge_material()
    if not material.HYDROGEN.is_dir():
        pytest.skip("hydrogen drum kits not installed (scripts/setup installs hydrogen-drumkits)")
    spec = SetSpec(
        bpm=bpm, bars_per_track=material.bars_per_track(bpm), first_track=set_number, seed=set_number
    )
    was, material.ALIGN_ATTACKS = material.ALIGN_ATTACKS, align_attacks
    try:
        return build_set(spec, make_track=material.track_maker("hydrogen", set_number))
    finally:
        material.ALIGN_ATTACKS = was
