"""The judge's pin covers the code that reads audio into the model's input, not only the model file.

Two releases that score the same audio differently must name different judges; otherwise honest
committee members on either release disagree under one pin and look like liars to each other.
"""

from __future__ import annotations

import pytest

from djmesh.dsp import set_phase
from djmesh.judge import pin, scoring
from djmesh.judge.synth import LMMS

pytestmark = pytest.mark.skipif(
    not (LMMS / "beats").is_dir(), reason="lmms-common loops not installed (CI installs them)"
)


def test_the_reading_of_the_reference_battles_is_the_one_the_pin_records() -> None:
    digest = pin.reading_digest(pin.reference_reading())
    assert digest == pin.READING_SHA256, (
        "this change moves what the judge reads from the reference battles: set READING_SHA256 in "
        f"judge/pin.py to {digest}. That changes the pin battle rules name: nodes of earlier releases "
        "will not judge the same battles as this one (say so in the release notes)."
    )


def test_a_change_in_how_bar_lines_are_weighed_moves_the_reading(monkeypatch: pytest.MonkeyPatch) -> None:
    """The change that made this pin necessary: bar_off moved verdicts without a tracklist, model unchanged."""
    monkeypatch.setattr(set_phase, "BAR_TEMPERATURE", set_phase.BAR_TEMPERATURE * 1.5)
    assert pin.reading_digest(pin.reference_reading()) != pin.READING_SHA256


def test_judging_two_plays_of_one_record_apart_moves_the_reading(monkeypatch: pytest.MonkeyPatch) -> None:
    """A release that reads each set's keys alone (as before ``judge.shared_keys``) names another judge."""
    monkeypatch.setattr(scoring, "read_together", lambda a, b: (dict(a), dict(b)))
    assert pin.reading_digest(pin.reference_reading()) != pin.READING_SHA256


def test_a_change_in_how_alike_grooves_weigh_moves_the_reading(monkeypatch: pytest.MonkeyPatch) -> None:
    """The reference battles' lmms loops play unlike grooves: the pin covers the alike ones through its bar chain."""
    monkeypatch.setattr(set_phase, "SAME_GROOVE_WEIGHT", set_phase.PATTERN_WEIGHT)
    monkeypatch.setattr(set_phase, "SAME_GROOVE_SLACK", set_phase.PATTERN_SLACK)
    assert pin.reading_digest(pin.reference_reading()) != pin.READING_SHA256
