"""Battles: every battle this node knows of, live and upcoming; challenge a peer, accept, join, watch."""

from __future__ import annotations

from datetime import UTC, datetime

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import DataTable, Footer, Header, Input, Label, Static

from djmesh.tui.backend import BackendError, short
from djmesh.tui.model import BattleView
from djmesh.tui.screens.base import DjmeshScreen

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


class SetDialog(ModalScreen[dict[str, str] | None]):
    """Asks for what a challenge (opponent, set file, title) or an acceptance (set file) needs."""

    BINDINGS = [Binding("escape", "cancel", "Cancel")]  # noqa: RUF012

    def __init__(self, heading: str, *, challenge: bool) -> None:
        super().__init__()
        self.heading = heading
        self.challenge = challenge

    def compose(self) -> ComposeResult:
        with Vertical(id="set-dialog"):
            yield Label(self.heading, id="set-dialog-heading")
            if self.challenge:
                yield Input(placeholder="Opponent's peer ID (12D3KooW...)", id="opponent")
            yield Input(placeholder="Your set file: audio, or a .toml tracklist", id="set-file")
            if self.challenge:
                yield Input(placeholder="Title (optional)", id="battle-name")
            yield Static("Enter confirms, Esc cancels. The set file is checked before anything is sent.")

    def on_mount(self) -> None:
        self.query(Input).first().focus()

    @on(Input.Submitted)
    def submit(self, event: Input.Submitted) -> None:
        values = {str(field.id): field.value.strip() for field in self.query(Input)}
        missing = [name for name in ("opponent", "set-file") if name in values and not values[name]]
        if missing:
            self.query_one(f"#{missing[0]}", Input).focus()
            self.notify(f"Fill in the {missing[0].replace('-', ' ')} first.", severity="warning")
            return
        self.dismiss(values)

    def action_cancel(self) -> None:
        self.dismiss(None)


class BattlesScreen(DjmeshScreen):
    BINDINGS = [  # noqa: RUF012
        Binding("c", "challenge", "Challenge"),
        Binding("y", "accept", "Accept"),
        Binding("j", "join", "Join"),
        Binding("enter", "watch", "Watch", show=True, priority=False),
    ]

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static("Battles: live and upcoming", classes="screen-title")
        table: DataTable[str | Text] = DataTable(id="battles-table", cursor_type="row")
        table.add_columns("Starts (UTC)", "Battle", "DJ A", "DJ B", "Genre", "Status", "You")
        yield table
        yield Static(
            "c challenges a peer with your set · y accepts a challenge to you · j joins as a viewer · "
            "Enter watches on the Battle screen",
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
        self.app.push_screen(SetDialog("Challenge a DJ", challenge=True), self._challenge)

    def _challenge(self, values: dict[str, str] | None) -> None:
        if values:
            self.send_challenge(values["opponent"], values["set-file"], values.get("battle-name", ""))

    @work(group="battle-action")
    async def send_challenge(self, opponent: str, set_path: str, title: str) -> None:
        try:
            battle_id = await self.backend.announce_battle(opponent, set_path, title=title)
        except BackendError as exc:
            self.notify(f"Challenge not sent: {exc}", title="Battle", severity="error")
            return
        self.notify(f"Challenged {short(opponent)}: battle {battle_id[:12]}", title="Battle")
        self.reload()

    def action_accept(self) -> None:
        battle = self.selected()
        if battle is None:
            return
        if not battle.can_accept:
            self.notify("Only a challenge to you, still open, can be accepted.", severity="warning")
            return
        heading = f"Accept {battle.title} from {battle.sides['a'].name}"

        def accept_with(values: dict[str, str] | None) -> None:
            if values:
                self.send_accept(battle.battle_id, values["set-file"])

        self.app.push_screen(SetDialog(heading, challenge=False), accept_with)

    @work(group="battle-action")
    async def send_accept(self, battle_id: str, set_path: str) -> None:
        try:
            await self.backend.accept_battle(battle_id, set_path)
        except BackendError as exc:
            self.notify(f"Not accepted: {exc}", title="Battle", severity="error")
            return
        self.notify(
            f"Accepted battle {battle_id[:12]}: your set streams when the battle starts", title="Battle"
        )
        self.reload()

    @work(group="battle-action")
    async def action_join(self) -> None:
        battle = self.selected()
        if battle is None:
            return
        try:
            await self.backend.join_battle(battle.battle_id)
        except BackendError as exc:
            self.notify(f"Not joined: {exc}", title="Battle", severity="error")
            return
        self.notify(f"Joined {battle.title}", title="Battle")

    def action_watch(self) -> None:
        battle = self.selected()
        if battle is not None:
            self.djmesh.watch_battle(battle.battle_id)

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        self.action_watch()
