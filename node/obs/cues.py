"""Battle events for a broadcast, from snapshots of the battles a node follows (no I/O).

A snapshot is the node's battle JSON (``battle_id``, ``phase``, ``result`` with ``winner``), as
the control method ``battles`` answers. Comparing one snapshot with the last gives the events:
``announced``, ``started`` (sets open), ``ended`` (sets over), ``result``, ``cancelled``. The
first snapshot only sets the baseline, so connecting does not replay battles already past.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

EVENTS = ("announced", "started", "ended", "result", "cancelled")
_BEFORE_SETS = ("announced", "accepted")
_AFTER_SETS = ("commit", "reveal", "done")


@dataclass(frozen=True)
class BattleCue:
    event: str
    battle_id: str
    winner: str | None = None  # "a" or "b", on result
    title: str = ""


class BattleCueTracker:
    def __init__(self, battle_id: str | None = None) -> None:
        self.battle_id = battle_id
        self._phases: dict[str, str] | None = None

    def update(self, battles: Iterable[dict[str, Any]]) -> list[BattleCue]:
        current = {
            str(b["battle_id"]): b
            for b in battles
            if self.battle_id is None or b.get("battle_id") == self.battle_id
        }
        if self._phases is None:
            self._phases = {key: str(b.get("phase")) for key, b in current.items()}
            return []
        cues: list[BattleCue] = []
        for key, battle in current.items():
            new = str(battle.get("phase"))
            old = self._phases.get(key)
            self._phases[key] = new
            if old == new:
                continue
            title = str(battle.get("title") or "")
            result = battle.get("result") or {}
            winner = result.get("winner") if isinstance(result, dict) else None
            if old is None:
                cues.append(BattleCue("announced", key, title=title))
                old = "announced"
            if old in _BEFORE_SETS and (new == "sets" or new in _AFTER_SETS):
                cues.append(BattleCue("started", key, title=title))
            if old in (*_BEFORE_SETS, "sets") and new in _AFTER_SETS:
                cues.append(BattleCue("ended", key, title=title))
            if new == "done":
                cues.append(BattleCue("result", key, winner=winner, title=title))
            if new == "cancelled":
                cues.append(BattleCue("cancelled", key, title=title))
        return cues
