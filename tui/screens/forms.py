"""Form dialogs for the node's commands: a few labelled inputs, Enter sends, Esc cancels.

One dialog class for every command (challenge, accept, sponsor, tip, going live): what differs is
the fields (``Field``) and which of them must be filled. The dialog only collects text; turning it
into a command's parameters is ``tui.commands``, and the node checks the rest.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Label, Static


@dataclass(frozen=True)
class Field:
    id: str
    placeholder: str
    value: str = ""


class FormDialog(ModalScreen[dict[str, str] | None]):
    """Dismisses with ``{field id: stripped text}``, or ``None`` on Esc.

    ``required``: fields that must be filled; ``one_of``: groups of fields of which one must be.
    """

    CSS_PATH = "forms.tcss"
    BINDINGS = [Binding("escape", "cancel", "Cancel")]  # noqa: RUF012

    def __init__(
        self,
        heading: str,
        fields: Sequence[Field],
        *,
        required: Sequence[str] = (),
        one_of: Sequence[Sequence[str]] = (),
        note: str = "Enter sends, Esc cancels.",
    ) -> None:
        super().__init__()
        self.heading = heading
        self.fields = tuple(fields)
        self.required = tuple(required)
        self.one_of = tuple(tuple(group) for group in one_of)
        self.note = note

    def compose(self) -> ComposeResult:
        with Vertical(classes="form-dialog"):
            yield Label(self.heading, classes="form-heading")
            for field in self.fields:
                yield Input(value=field.value, placeholder=field.placeholder, id=field.id)
            yield Static(self.note, classes="form-note")

    def on_mount(self) -> None:
        self.query(Input).first().focus()

    def _missing(self, values: dict[str, str]) -> str | None:
        for name in self.required:
            if not values.get(name):
                return name
        for group in self.one_of:
            if not any(values.get(name) for name in group):
                return group[0]
        return None

    @on(Input.Submitted)
    def submit(self, event: Input.Submitted) -> None:
        values = {str(field.id): field.value.strip() for field in self.query(Input)}
        missing = self._missing(values)
        if missing is not None:
            self.query_one(f"#{missing}", Input).focus()
            self.notify(f"Fill in the {missing.replace('-', ' ')} first.", severity="warning")
            return
        self.dismiss(values)

    def action_cancel(self) -> None:
        self.dismiss(None)


# -- the dialogs of the battle and money commands -----------------------------------------------------


def challenge_dialog() -> FormDialog:
    """`djmesh battle challenge`: empty fields take the same defaults as absent flags."""
    return FormDialog(
        "Challenge a DJ",
        [
            Field("peer", "Opponent: peer ID (12D3KooW...) or profile name"),
            Field("set-file", "Your set file: audio, or a .toml tracklist"),
            Field("battle-name", "Title (optional)"),
            Field(
                "live", "...or play live from a source (as `live start`: alsa:DEVICE, a FIFO, - for stdin)"
            ),
            Field("genre", "Genre (default house)"),
            Field("tracks", "Tracks (default 6)"),
            Field("set-seconds", "Set seconds (default: the set's length)"),
            Field("start-in", "Starts in seconds (default 60)"),
            Field("prize", "Prize in ETH, staked now; the opponent stakes the same (optional)"),
            Field("crowd-weight", "Crowd weight 0..1: the votes' share of the total (default 0)"),
            Field("mode", "Mode: simultaneous or sequential (default simultaneous)"),
        ],
        required=("peer",),
        one_of=(("set-file", "live"),),
        note="Enter sends, Esc cancels. The set is checked against the rules before anything is sent.",
    )


def accept_dialog(heading: str) -> FormDialog:
    """`djmesh battle accept`: a set file or a live source; a prize is staked the same."""
    return FormDialog(
        heading,
        [
            Field("set-file", "Your set file: audio, or a .toml tracklist"),
            Field("live", "...or play live from a source (as `live start`)"),
        ],
        one_of=(("set-file", "live"),),
        note="Enter accepts, Esc cancels. With a prize, your node stakes the same amount.",
    )


def cue_dialog() -> FormDialog:
    return FormDialog(
        "Cue: the next track starts now",
        [Field("title", "its title (optional)")],
        note="Enter marks the track change in your live streams (a battle played --live), Esc cancels.",
    )


def sponsor_dialog(heading: str) -> FormDialog:
    return FormDialog(
        heading,
        [Field("amount", "ETH to add to the prize (or e.g. 5000wei)")],
        required=("amount",),
        note="Enter pays into the battle's escrow, Esc cancels.",
    )


def tip_dialog(peer: str = "") -> FormDialog:
    return FormDialog(
        "Tip a DJ",
        [
            Field("peer", "Peer ID or profile name", peer),
            Field("amount", "ETH (or e.g. 5000wei)"),
            Field("chain", "Chain: eth (default)"),
        ],
        required=("peer", "amount"),
        note="Enter sends to the wallet the peer bound to its ID, Esc cancels.",
    )


def live_dialog() -> FormDialog:
    """`djmesh live start SOURCE --price WEI_PER_SECOND`."""
    return FormDialog(
        "Go live",
        [
            Field("source", "Source: alsa:DEVICE (sound card), a FIFO, - (stdin), a file or URL"),
            Field("title", "Title (optional)"),
            Field("price", "Price in wei per second (empty: free)"),
        ],
        required=("source",),
        note="Enter starts the stream, Esc cancels. Listeners with a ledger pay as they listen.",
    )
