"""Snapshots of the main screens on fixed data (update with `pytest tests/tui --snapshot-update`)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from djmesh.tui.app import DjmeshApp
from tests.tui.fake import FixedBackend, battle

SIZE = (120, 40)
Snap = Callable[..., bool]


def app(**kwargs: Any) -> DjmeshApp:
    return DjmeshApp(FixedBackend(**kwargs), watch_peers=False)


def test_battle_screen(snap_compare: Snap) -> None:
    assert snap_compare(app(), terminal_size=SIZE, press=["_"])


def test_battle_screen_with_a_result(snap_compare: Snap) -> None:
    assert snap_compare(app(battles=[battle("done")]), terminal_size=SIZE, press=["_"])


@pytest.mark.parametrize("key", ["f", "p", "g", "w", "question_mark"])
def test_other_screens(snap_compare: Snap, key: str) -> None:
    assert snap_compare(app(), terminal_size=SIZE, press=[key, "_"])
