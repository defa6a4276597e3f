"""The committee's consensus status: phase, commits and reveals against the quorum, result."""

from __future__ import annotations

from rich.text import Text

from djmesh.tui.model import BattleView
from djmesh.tui.widgets.live_text import LiveText

PHASE_WORDS = {
    "announced": "announced, waiting for DJ B to accept",
    "accepted": "accepted, sets start soon",
    "sets": "sets live",
    "commit": "committee judging and committing",
    "reveal": "committee revealing verdicts",
    "done": "result agreed",
    "cancelled": "cancelled",
}


#: findings shown per DJ under the result; the rest are a `djmesh judge SET` away
FINDINGS_SHOWN = 8


def consensus_text(battle: BattleView) -> Text:
    text = Text()
    text.append("Phase   ", style="bold")
    text.append(PHASE_WORDS.get(battle.phase, battle.phase), style="bold yellow")
    if battle.seconds_left is not None and battle.phase not in ("done", "cancelled"):
        text.append(f"  ({battle.seconds_left} s left)", style="dim")
    text.append("\nJudges  ", style="bold")
    text.append(f"{battle.joined} joined · committee {battle.committee_size} · quorum {battle.quorum}")
    if battle.other_judge:
        text.append("\n        another djmesh release's judge: this node does not judge it", style="yellow")
    text.append("\nCommits ", style="bold")
    text.append(_dots(battle.commits, battle.committee_size) + f" {battle.commits}/{battle.committee_size}")
    text.append("\nReveals ", style="bold")
    text.append(_dots(battle.reveals, battle.committee_size) + f" {battle.reveals}/{battle.committee_size}")
    text.append("\nResult  ", style="bold")
    if battle.winner:
        name = battle.sides[battle.winner].name if battle.winner in battle.sides else battle.winner
        text.append(f"DJ {battle.winner.upper()} ({name}) wins", style="bold green")
    else:
        text.append("pending", style="dim")
    for offence in battle.offences:
        text.append(f"\n  recorded against {offence}", style="red")
    for side, lines in sorted(battle.findings.items()):
        if not lines:
            continue
        name = battle.sides[side].name if side in battle.sides else side
        text.append(f"\nFindings DJ {side.upper()} ({name})", style="bold")
        for line in lines[:FINDINGS_SHOWN]:
            text.append(f"\n  {line}")
        if len(lines) > FINDINGS_SHOWN:
            text.append(f"\n  ... {len(lines) - FINDINGS_SHOWN} more (djmesh judge SET)", style="dim")
    return text


def _dots(done: int, total: int) -> str:
    return "■" * min(done, total) + "□" * max(0, total - done)


class ConsensusPanel(LiveText):
    def show(self, battle: BattleView | None) -> None:
        if battle is None:
            self.put(
                Text("No battle yet. Start one with `djmesh demo`, or run `djmesh tui --demo`.", style="dim")
            )
        else:
            self.put(consensus_text(battle))
