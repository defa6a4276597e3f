"""Snapshots of the main screens on fixed data (update with `pytest tests/tui --snapshot-update`)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from djmesh.node.config import NodeConfig
from djmesh.tui.app import DjmeshApp
from tests.tui.fake import FixedBackend, battle, challenge

SIZE = (120, 40)
BOOT = "/ip4/127.0.0.1/tcp/4000/p2p/12D3KooWLz4WJZ8fJkYm1LqGZyK8u3Wt7w8Gk8ZyqEiPdyPkiu8v"
Snap = Callable[..., bool]


def app(**kwargs: Any) -> DjmeshApp:
    return DjmeshApp(FixedBackend(**kwargs), watch_peers=False)


def test_battle_screen(snap_compare: Snap) -> None:
    assert snap_compare(app(), terminal_size=SIZE, press=["_"])


def test_battle_screen_with_a_result(snap_compare: Snap) -> None:
    assert snap_compare(app(battles=[battle("done")]), terminal_size=SIZE, press=["_"])


@pytest.mark.parametrize("key", ["f", "p", "g", "w", "t", "i", "question_mark"])
def test_other_screens(snap_compare: Snap, key: str) -> None:
    assert snap_compare(app(), terminal_size=SIZE, press=[key, "_"])


def test_battles_screen(snap_compare: Snap) -> None:
    assert snap_compare(app(battles=[battle(), challenge()]), terminal_size=SIZE, press=["a", "_"])


def test_settings_screen(snap_compare: Snap, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "config.toml").write_text(
        NodeConfig(name="DJ Test", listen=("/ip4/0.0.0.0/tcp/4001",), bootstrap=(BOOT,)).to_toml()
    )
    monkeypatch.chdir(tmp_path)  # a home of "." keeps the path on screen the same every run
    assert snap_compare(app(home="."), terminal_size=SIZE, press=["s", "_"])
