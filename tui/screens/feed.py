"""Home: the feed of posts by the people you follow (and yours), with a compose line."""

from __future__ import annotations

from datetime import UTC, datetime

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import DataTable, Footer, Header, Input, Static

from djmesh.tui.backend import BackendError
from djmesh.tui.screens.base import DjmeshScreen


def stamp(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M")


class FeedScreen(DjmeshScreen):
    BINDINGS = [  # noqa: RUF012
        Binding("c", "compose", "Compose"),
        Binding("escape", "blur", "Leave input", show=False),
    ]

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static("Feed: posts by the people you follow, and yours", classes="screen-title")
        yield Input(placeholder="Write a post (Enter publishes it)", id="compose")
        table: DataTable[str] = DataTable(id="feed-table", cursor_type="row")
        table.add_columns("When (UTC)", "Who", "Post")
        yield table
        yield Footer()

    def on_mount(self) -> None:
        self.reload()
        self.set_interval(5.0, self.reload)

    def on_data_changed(self, what: str) -> None:
        if what == "feed":
            self.reload()

    @work(exclusive=True, group="feed")
    async def reload(self) -> None:
        try:
            rows = await self.backend.feed()
        except BackendError:
            return
        table = self.query_one("#feed-table", DataTable)
        table.clear()
        for row in rows:
            table.add_row(stamp(row.created_at), row.author, row.text, key=row.id)
        if not rows:
            table.add_row("", "", "Nothing yet: write the first post above, or follow someone from Peers.")

    async def on_input_submitted(self, event: Input.Submitted) -> None:
        text = event.value.strip()
        if event.input.id == "compose" and text:
            event.input.clear()
            self.publish(text)

    @work(group="post")
    async def publish(self, text: str) -> None:
        try:
            await self.backend.post(text)
        except BackendError as exc:
            self.notify(f"Post not published: {exc}", severity="error")
            return
        self.notify("Posted")
        self.reload()

    def action_compose(self) -> None:
        self.query_one("#compose", Input).focus()

    def action_blur(self) -> None:
        self.set_focus(None)
