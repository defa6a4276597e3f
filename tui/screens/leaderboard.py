"""Leaderboard: ratings per genre from the verified battle results, with tiers and records."""

from __future__ import annotations

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import DataTable, Footer, Header, Static

from djmesh.tui.backend import BackendError
from djmesh.tui.model import LeaderRow
from djmesh.tui.screens.base import DjmeshScreen

COLUMNS = ("#", "DJ", "Genre", "Rating", "Tier", "W", "L", "D", "Avg score")
TIER_STYLES = {
    "Diamond": "bold bright_cyan",
    "Platinum": "bold white",
    "Gold": "bold yellow",
    "Silver": "bright_black",
    "Bronze": "dark_orange3",
}


def tier_text(tier: str) -> Text:
    return Text(tier, style=TIER_STYLES.get(tier, ""))


def row_cells(row: LeaderRow, *, mine: bool) -> tuple[Text, ...]:
    """One table row; names are peers' own words, so they are Text (never parsed as markup)."""
    style = "bold" if mine else ""
    average = f"{row.average_score:.2f}" if row.average_score is not None else "-"
    return (
        Text(str(row.rank), style=style),
        Text(row.name + (" (you)" if mine else ""), style=style),
        Text(row.genre),
        Text(f"{row.rating:.1f}", style=style),
        tier_text(row.tier),
        Text(f"{row.wins}"),
        Text(f"{row.losses}"),
        Text(f"{row.draws}"),
        Text(average),
    )


class LeaderboardScreen(DjmeshScreen):
    CSS_PATH = "leaderboard.tcss"
    BINDINGS = [  # noqa: RUF012
        Binding("n", "next_genre", "Next genre"),
        Binding("r", "refresh", "Refresh"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.rows: list[LeaderRow] | None = None  # None: not read yet
        self.genre: str | None = None  # None: every genre

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static(id="leaderboard-title", classes="screen-title")
        table: DataTable[Text] = DataTable(id="leaderboard-table", cursor_type="row", zebra_stripes=True)
        table.add_columns(*COLUMNS)
        yield table
        yield Static(
            "Elo per genre from the verified results, recomputed by every node alike. Tiers:"
            " Bronze < 1550 ≤ Silver < 1650 ≤ Gold < 1750 ≤ Platinum < 1850 ≤ Diamond."
            " Avg score: the mean agreed total (out of 10).",
            id="leaderboard-help",
        )
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#leaderboard-title", Static).update("Leaderboard: reading the results...")
        self.reload()
        self.set_interval(10.0, self.reload)

    def on_data_changed(self, what: str) -> None:
        if what in ("battle", "notifications"):
            self.reload()

    @work(exclusive=True, group="leaderboard")
    async def reload(self) -> None:
        try:
            self.rows = await self.backend.leaderboard()
        except BackendError as exc:
            self.query_one("#leaderboard-title", Static).update(Text(f"Leaderboard: {exc}", style="dim"))
            return
        self.show()

    def genres(self) -> list[str]:
        return sorted({row.genre for row in self.rows or ()})

    def show(self) -> None:
        genres = self.genres()
        if self.genre is not None and self.genre not in genres:
            self.genre = None
        shown = [row for row in self.rows or () if self.genre in (None, row.genre)]
        which = self.genre or "every genre"
        more = f" · n: {'next genre' if len(genres) > 1 else 'genre'}" if genres else ""
        self.query_one("#leaderboard-title", Static).update(f"Leaderboard: {which}{more}")
        table = self.query_one("#leaderboard-table", DataTable)
        cursor = table.cursor_row
        table.clear(columns=True)  # columns fit what is shown now
        table.add_columns(*COLUMNS)
        me = self.backend.status().peer_id
        for row in shown:
            table.add_row(*row_cells(row, mine=row.peer_id == me), key=f"{row.genre}/{row.peer_id}")
        if self.rows is not None and not shown:
            empty = Text("No verified results yet: battles count once their committee agreed.", style="dim")
            table.add_row(Text(""), empty, *(Text("") for _ in COLUMNS[2:]))
        elif cursor:
            table.move_cursor(row=min(cursor, len(shown) - 1))

    def action_next_genre(self) -> None:
        """Every genre, then each one in turn."""
        choices: list[str | None] = [None, *self.genres()]
        self.genre = choices[(choices.index(self.genre) + 1) % len(choices)]
        self.show()

    def action_refresh(self) -> None:
        self.reload()
