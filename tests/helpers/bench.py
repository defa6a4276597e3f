"""The benchmarks' folder (``bench/``), for tests of the material and readers the benchmarks use."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path
from types import ModuleType

BENCH = Path(__file__).resolve().parents[2] / "bench"


def judge_material() -> ModuleType:
    """``bench/judge_material.py``, imported as ``bench/judge_eval.py`` imports it (its folder on the path, once)."""
    if str(BENCH) not in sys.path:
        sys.path.insert(0, str(BENCH))
    return importlib.import_module("judge_material")
