"""The vote prompt: DJ A or DJ B, one key each."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Label, Static


class VoteDialog(ModalScreen[str | None]):
    """Dismisses with the side voted for, or ``None`` on Esc."""

    BINDINGS = [  # noqa: RUF012
        Binding("a", "choose('a')", "DJ A"),
        Binding("b", "choose('b')", "DJ B"),
        Binding("escape", "choose('')", "Cancel"),
    ]

    def __init__(self, names: dict[str, str]) -> None:
        super().__init__()
        self.names = names

    def compose(self) -> ComposeResult:
        with Vertical(id="vote-dialog"):
            yield Label("Vote: who takes it?", id="vote-heading")
            for side in ("a", "b"):
                yield Static(f"  {side}  DJ {side.upper()}  {self.names.get(side, '')}")
            yield Static(
                "Esc cancels. With a chain your vote is anonymous and counts for the crowd (it pays one "
                "listen unit); without one it is a signed reaction that does not change the verdict."
            )

    def action_choose(self, side: str) -> None:
        self.dismiss(side or None)
