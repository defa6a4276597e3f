"""Crews: the crews you belong to, and a line to found a new one."""

from __future__ import annotations

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import DataTable, Footer, Header, Input, Static

from djmesh.tui.backend import BackendError
from djmesh.tui.screens.base import DjmeshScreen


class CrewsScreen(DjmeshScreen):
    BINDINGS = [  # noqa: RUF012
        Binding("c", "create", "New crew"),
        Binding("escape", "blur", "Leave input", show=False),
    ]

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static("Crews", classes="screen-title")
        yield Input(placeholder="Name a new crew (Enter creates it; you are its admin)", id="crew-name")
        table: DataTable[str] = DataTable(id="crews-table", cursor_type="row")
        table.add_columns("Crew", "Members", "Role", "Crew ID")
        yield table
        yield Footer()

    def on_mount(self) -> None:
        self.reload()
        self.set_interval(5.0, self.reload)

    def on_data_changed(self, what: str) -> None:
        if what == "crews":
            self.reload()

    @work(exclusive=True, group="crews")
    async def reload(self) -> None:
        try:
            crews = await self.backend.crews()
        except BackendError:
            return
        table = self.query_one("#crews-table", DataTable)
        table.clear()
        for crew in sorted(crews, key=lambda c: c.name):
            table.add_row(
                crew.name, str(crew.members), "admin" if crew.admin else "member", crew.crew_id[:16]
            )
        if not crews:
            table.add_row("No crews yet: name one above.", "", "", "")

    async def on_input_submitted(self, event: Input.Submitted) -> None:
        name = event.value.strip()
        if event.input.id == "crew-name" and name:
            event.input.clear()
            self.create(name)

    @work(group="crew-write")
    async def create(self, name: str) -> None:
        try:
            crew_id = await self.backend.create_crew(name)
        except BackendError as exc:
            self.notify(f"Crew not created: {exc}", severity="error")
            return
        self.notify(f"Crew {name} created ({crew_id[:12]})")
        self.reload()

    def action_create(self) -> None:
        self.query_one("#crew-name", Input).focus()

    def action_blur(self) -> None:
        self.set_focus(None)
