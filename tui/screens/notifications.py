"""Notifications: challenges, mentions, follows, reactions and the results of your battles."""

from __future__ import annotations

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import DataTable, Footer, Header, Static

from djmesh.tui.backend import BackendError
from djmesh.tui.model import NoticeRow
from djmesh.tui.screens.base import DjmeshScreen
from djmesh.tui.screens.feed import stamp

REASONS = {
    "challenge": ("⚔ challenge", "bold magenta"),
    "result": ("🏆 result", "bold yellow"),
    "mention": ("@ mention", "bold cyan"),
    "follow": ("+ follow", "green"),
    "reaction": ("♥ reaction", ""),
}


def reason_text(reason: str) -> Text:
    label, style = REASONS.get(reason, (reason.replace("_", " "), ""))
    return Text(label, style=style)


class NotificationsScreen(DjmeshScreen):
    CSS_PATH = "notifications.tcss"
    BINDINGS = [  # noqa: RUF012
        Binding("enter", "open", "Open", show=True, priority=False),
        Binding("r", "refresh", "Refresh"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.rows: list[NoticeRow] = []

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static("Notifications: what concerns you, newest first", classes="screen-title")
        table: DataTable[Text] = DataTable(id="notifications-table", cursor_type="row")
        table.add_columns("When (UTC)", "What", "")
        yield table
        yield Static(
            "Enter on a challenge opens Battles (y accepts it there); on a result, watches that battle.",
            id="notifications-help",
        )
        yield Footer()

    def on_mount(self) -> None:
        self.reload()
        self.set_interval(5.0, self.reload)

    def on_data_changed(self, what: str) -> None:
        if what == "notifications":
            self.reload()

    @work(exclusive=True, group="notifications")
    async def reload(self) -> None:
        try:
            rows = await self.backend.notifications(limit=100)
        except BackendError:
            return
        self.rows = rows
        table = self.query_one("#notifications-table", DataTable)
        cursor = table.cursor_row
        table.clear()
        for row in rows:
            # a peer's words: Text, never parsed as markup
            table.add_row(Text(stamp(row.created_at)), reason_text(row.reason), Text(row.text), key=row.id)
        if not rows:
            table.add_row(
                Text(""), Text(""), Text("Nothing yet: challenges, mentions and results show up here.")
            )
        elif cursor:
            table.move_cursor(row=min(cursor, len(rows) - 1))

    def selected(self) -> NoticeRow | None:
        table = self.query_one("#notifications-table", DataTable)
        if not self.rows or not 0 <= table.cursor_row < len(self.rows):
            return None
        return self.rows[table.cursor_row]

    def action_open(self) -> None:
        row = self.selected()
        if row is None or row.battle_id is None:
            return
        if row.reason == "challenge":
            self.djmesh.switch_mode("battles")
        else:
            self.djmesh.watch_battle(row.battle_id)

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        self.action_open()  # Enter on the table

    def action_refresh(self) -> None:
        self.reload()
