"""Which notifications are news worth a toast: new challenges, mentions, follows and results.

The app polls the backend's notifications (and its battles), whichever way it reaches the node,
and hands them here. The first poll only learns what is already there: toasts are for what
arrives while the app runs. A battle's result is toasted once, from the notification when it
is one of ours (it says "you won"), else when a battle on screen gets its winner.
"""

from __future__ import annotations

from dataclasses import dataclass

from djmesh.node.notices import BoundedSet
from djmesh.tui.model import BattleView, NoticeRow

TOASTED = {"challenge": "Challenge", "mention": "Mention", "result": "Result", "follow": "New follower"}
REMEMBERED = 2048


@dataclass(frozen=True)
class Toast:
    title: str
    text: str
    battle_id: str | None = None


class NoticeWatcher:
    def __init__(self) -> None:
        self.started = False
        self.seen: BoundedSet[str] = BoundedSet(REMEMBERED)  # notification IDs
        self.results: BoundedSet[str] = BoundedSet(
            REMEMBERED
        )  # battle IDs whose result was shown (or already there)

    def news(self, notices: list[NoticeRow], battles: list[BattleView]) -> list[Toast]:
        """The toasts for what is new since the last call, oldest first."""
        toasts = []
        for row in reversed(notices):  # notices come newest first
            if row.id in self.seen:
                continue
            self.seen.add(row.id)
            if row.reason == "result" and row.battle_id is not None:
                if row.battle_id in self.results:
                    continue
                self.results.add(row.battle_id)
            if self.started and row.reason in TOASTED:
                toasts.append(Toast(TOASTED[row.reason], row.text, row.battle_id))
        for battle in battles:
            if battle.winner is None or battle.battle_id in self.results:
                continue
            self.results.add(battle.battle_id)
            winner = battle.sides.get(battle.winner)
            if self.started and winner is not None:
                toasts.append(Toast("Result", f"{battle.title}: {winner.name} wins", battle.battle_id))
        self.started = True
        return toasts
