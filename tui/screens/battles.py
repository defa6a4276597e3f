"""Battles: every battle this node knows of, live and upcoming; challenge a peer, accept, join, watch."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import DataTable, Footer, Header, Static

from djmesh.tui.commands import challenge_params, set_or_live, wei_text
from djmesh.tui.model import BattleView
from djmesh.tui.screens.base import DjmeshScreen
from djmesh.tui.screens.forms import accept_dialog, challenge_dialog, cue_dialog, sponsor_dialog

LIVE_PHASES = ("sets", "commit", "reveal")
UPCOMING_PHASES = ("announced", "accepted")
ROLE_WORDS = {"dj-a": "you are DJ A", "dj-b": "you are DJ B", "judge": "judging", "viewer": "joined"}


def when_text(battle: BattleView) -> str:
    return (
        datetime.fromtimestamp(battle.start_at / 1000, UTC).strftime("%m-%d %H:%M")
        if battle.start_at
        else "-"
    )


def status_text(battle: BattleView) -> Text:
    if battle.can_accept:
        return Text("challenge to you: y accepts", style="bold yellow")
    if battle.phase in LIVE_PHASES:
        return Text(f"live ({battle.phase})", style="bold red")
    if battle.phase in UPCOMING_PHASES:
        left = f", {battle.seconds_left} s" if battle.seconds_left is not None else ""
        return Text(f"upcoming ({battle.phase}{left})", style="bold cyan")
    if battle.phase == "done" and battle.winner:
        return Text(f"done: DJ {battle.winner.upper()} won", style="green")
    return Text(battle.phase, style="dim")


def ordered(battles: list[BattleView]) -> list[BattleView]:
    """Live first, then upcoming (soonest first), then the finished ones."""

    def rank(battle: BattleView) -> tuple[int, int]:
        if battle.phase in LIVE_PHASES:
            return (0, -battle.start_at)
        if battle.phase in UPCOMING_PHASES:
            return (1, battle.start_at)
        return (2, -battle.start_at)

    return sorted(battles, key=rank)


class BattlesScreen(DjmeshScreen):
    BINDINGS = [  # noqa: RUF012
        Binding("c", "challenge", "Challenge"),
        Binding("y", "accept", "Accept"),
        Binding("j", "join", "Join"),
        Binding("dollar_sign", "sponsor", "Sponsor", key_display="$"),
        Binding("v", "vote", "Vote"),
        Binding("r", "claim_reward", "Claim reward"),
        Binding("k", "cue", "Cue track"),
        Binding("enter", "watch", "Watch", show=True, priority=False),
    ]

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static("Battles: live and upcoming", classes="screen-title")
        table: DataTable[str | Text] = DataTable(id="battles-table", cursor_type="row")
        table.add_columns("Starts (UTC)", "Battle", "DJ A", "DJ B", "Genre", "Status", "You")
        yield table
        yield Static(
            "c challenges a DJ (set or live, prize) · y accepts a challenge to you · j joins as a viewer · "
            "$ sponsors the prize · v votes · r claims your listen reward · Enter watches",
            id="battles-help",
        )
        yield Footer()

    def on_mount(self) -> None:
        self.reload()
        self.set_interval(1.0, self.reload)

    def on_data_changed(self, what: str) -> None:
        if what == "battle":
            self.reload()

    def reload(self) -> None:
        battles = ordered(self.backend.battles())
        table = self.query_one("#battles-table", DataTable)
        cursor = table.cursor_row
        table.clear()
        for battle in battles:
            table.add_row(
                when_text(battle),
                battle.title,
                battle.sides["a"].name if "a" in battle.sides else "-",
                battle.sides["b"].name if "b" in battle.sides else "-",
                battle.genre,
                status_text(battle),
                ROLE_WORDS.get(battle.role, ""),
                key=battle.battle_id,
            )
        if battles:
            table.move_cursor(row=min(max(cursor, 0), len(battles) - 1))

    def selected(self) -> BattleView | None:
        table = self.query_one("#battles-table", DataTable)
        if table.row_count == 0:
            self.notify("No battles yet: press c to challenge someone.", severity="warning")
            return None
        key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
        return next((b for b in self.backend.battles() if b.battle_id == key), None)

    def action_challenge(self) -> None:
        def challenge_with(values: dict[str, str] | None) -> None:
            if values:
                self.send_command("battle_challenge", lambda: challenge_params(values))

        self.app.push_screen(challenge_dialog(), challenge_with)

    def action_accept(self) -> None:
        battle = self.selected()
        if battle is None:
            return
        if not battle.can_accept:
            self.notify("Only a challenge to you, still open, can be accepted.", severity="warning")
            return

        def accept_with(values: dict[str, str] | None) -> None:
            if values:
                self.send_command(
                    "battle_accept", lambda: {"battle_id": battle.battle_id, **set_or_live(values)}
                )

        heading = f"Accept {battle.title} from {battle.sides['a'].name}"
        self.app.push_screen(accept_dialog(heading), accept_with)

    def action_join(self) -> None:
        battle = self.selected()
        if battle is not None:
            self.run_command("battle_join", {"battle_id": battle.battle_id})

    def action_sponsor(self) -> None:
        battle = self.selected()
        if battle is None:
            return

        def sponsor_with(values: dict[str, str] | None) -> None:
            if values:
                self.send_command(
                    "battle_sponsor",
                    lambda: {
                        "battle_id": battle.battle_id,
                        "amount_wei": wei_text(values["amount"], "the amount"),
                    },
                )

        self.app.push_screen(sponsor_dialog(f"Sponsor {battle.title}"), sponsor_with)

    def action_vote(self) -> None:
        battle = self.selected()
        if battle is not None:
            self.ask_vote(battle)

    def action_cue(self) -> None:
        """A DJ playing a battle live marks each track change as it happens (``live_cue``, like `djmesh live cue`)."""

        def cue_with(values: dict[str, str] | None) -> None:
            if values is not None:
                self.send_command("live_cue", lambda: {"title": values["title"]})

        self.app.push_screen(cue_dialog(), cue_with)

    def action_claim_reward(self) -> None:
        battle = self.selected()
        if battle is not None:
            self.run_command("reward_claim", {"battle_id": battle.battle_id})

    def on_command_done(self, method: str, answer: Any) -> None:
        self.reload()

    def action_watch(self) -> None:
        battle = self.selected()
        if battle is not None:
            self.djmesh.watch_battle(battle.battle_id)

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        self.action_watch()
