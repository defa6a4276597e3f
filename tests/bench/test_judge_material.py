"""The judge benchmark's held-out sets are new material (bench/judge_material.py ``track_maker``).

``bench/judge_eval.py --first-set K`` reports held-out figures on sets no round tuned on; hydrogen's
eight kits once made set n + 24 the tracks of set n again, so those figures were repeats.
"""

from __future__ import annotations

import numpy as np
import pytest

from tests.helpers.bench import judge_material

material = judge_material()

RATE = 22_050


@pytest.fixture(autouse=True)
def kits() -> None:
    if not material.HYDROGEN.is_dir():
        pytest.skip("hydrogen drum kits not installed (scripts/setup installs hydrogen-drumkits)")


def test_hydrogen_sets_further_on_are_other_tracks() -> None:
    for track in range(8):  # every kit
        first = material.track_maker("hydrogen", 0)(track, 126.0, 1, RATE)
        for set_number in (8, 16, 24):  # --first-set 8, 16, 24 start here
            later = material.track_maker("hydrogen", set_number)(track, 126.0, 1, RATE)
            assert not np.array_equal(first, later), (track, set_number)


def test_the_first_sets_are_as_they_were() -> None:
    for track in (0, 5, 12):  # the first 24 sets use tracks 0-12
        made = material.track_maker("hydrogen", 7)(track, 85.0, 1, RATE)
        np.testing.assert_array_equal(made, material.hydrogen_track(track, 85.0, 1, RATE))
    assert material.track_maker("sonic-pi", 24) is material.SOURCES["sonic-pi"]


def _attack_ms(track: np.ndarray) -> float:
    """Where a rendered bar is first heard: its first sample at 10 % of the bar's peak."""
    return 1000.0 * int(np.argmax(np.abs(track) >= 0.1 * np.max(np.abs(track)))) / RATE


def test_aligned_attacks_put_what_is_heard_on_the_step() -> None:
    """Kit 4's kick starts 18 ms into its file: placed at its file's start, the bar is first heard 18 ms after
    its first step; with ``ALIGN_ATTACKS`` it is heard on the step."""
    assert _attack_ms(material.hydrogen_track(4, 126.0, 1, RATE)) > 15.0
    material.ALIGN_ATTACKS = True
    try:
        aligned = material.hydrogen_track(4, 126.0, 1, RATE)
    finally:
        material.ALIGN_ATTACKS = False
    assert _attack_ms(aligned) <= 1.5
