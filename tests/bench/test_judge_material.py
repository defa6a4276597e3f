"""The judge benchmark's held-out sets are new material (bench/judge_material.py ``track_maker``).

``bench/judge_eval.py --first-set K`` reports held-out figures on sets no round tuned on; hydrogen's
eight kits once made set n + 24 the tracks of set n again, so those figures were repeats.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
from judge_material import HYDROGEN, SOURCES, hydrogen_track, track_maker

RATE = 22_050


@pytest.fixture(autouse=True)
def kits() -> None:
    if not HYDROGEN.is_dir():
        pytest.skip("hydrogen drum kits not installed (scripts/setup installs hydrogen-drumkits)")


def test_hydrogen_sets_further_on_are_other_tracks() -> None:
    for track in range(8):  # every kit
        first = track_maker("hydrogen", 0)(track, 126.0, 1, RATE)
        for set_number in (8, 16, 24):  # --first-set 8, 16, 24 start here
            later = track_maker("hydrogen", set_number)(track, 126.0, 1, RATE)
            assert not np.array_equal(first, later), (track, set_number)


def test_the_first_sets_are_as_they_were() -> None:
    for track in (0, 5, 12):  # the first 24 sets use tracks 0-12
        made = track_maker("hydrogen", 7)(track, 85.0, 1, RATE)
        np.testing.assert_array_equal(made, hydrogen_track(track, 85.0, 1, RATE))
    assert track_maker("sonic-pi", 24) is SOURCES["sonic-pi"]
