"""Profile: edit yours, look up anyone's by peer ID and follow them."""

from __future__ import annotations

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import Button, Footer, Header, Input, Label, Static

from djmesh.tui.backend import BackendError
from djmesh.tui.model import ProfileView, RecordView
from djmesh.tui.screens.base import DjmeshScreen


def profile_text(profile: ProfileView, *, mine: bool) -> Text:
    text = Text()
    text.append(profile.name or "(no name yet)", style="bold")
    text.append(f"\n{profile.peer_id}", style="dim")
    text.append(f"\n{profile.bio or '(no bio)'}")
    for link in profile.links:
        text.append(f"\n{link}", style="underline")
    if mine:
        text.append(f"\nFollowing {profile.following}")
    if profile.record is not None:
        text.append_text(record_text(profile.record))
    return text


def record_text(record: RecordView) -> Text:
    """Tier, wins/losses/draws, average score and the rating in each genre."""
    text = Text("\n")
    if not record.battles:
        text.append("Unranked: no verified battle yet", style="dim")
        return text
    text.append(f"{record.tier} ", style="bold")
    text.append(f"{record.wins}W {record.losses}L {record.draws}D")
    if record.average_score is not None:
        text.append(f" · average score {record.average_score:.2f}")
    for genre in record.genres:
        text.append(f"\n  {genre.genre:<10} {genre.rating:7.1f}  #{genre.rank}  {genre.tier}", style="dim")
    return text


class ProfileScreen(DjmeshScreen):
    BINDINGS = [  # noqa: RUF012
        Binding("ctrl+s", "save", "Save profile"),
        Binding("escape", "blur", "Leave input", show=False),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.looked_up: str | None = None

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static("Profile", classes="screen-title")
        with Horizontal(id="profile-columns"):
            with Vertical(id="my-profile"):
                yield Static(id="mine")
                yield Label("Name")
                yield Input(id="name", placeholder="Your DJ name")
                yield Label("Bio")
                yield Input(id="bio", placeholder="A line about you")
                yield Button("Save (ctrl+s)", id="save", variant="primary")
            with Vertical(id="other-profile"):
                yield Label("Look up a peer")
                yield Input(id="lookup", placeholder="12D3KooW... (Enter shows their profile)")
                yield Static(id="theirs")
                yield Button("Follow", id="follow", disabled=True)
        yield Footer()

    def on_mount(self) -> None:
        self.reload()

    @work(exclusive=True, group="profile")
    async def reload(self) -> None:
        try:
            mine = await self.backend.profile()
        except BackendError as exc:
            self.query_one("#mine", Static).update(Text(f"Not available: {exc}", style="dim"))
            return
        if mine is None:
            return
        self.query_one("#mine", Static).update(profile_text(mine, mine=True))
        name, bio = self.query_one("#name", Input), self.query_one("#bio", Input)
        if not name.value:
            name.value = mine.name
        if not bio.value:
            bio.value = mine.bio

    async def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "save":
            self.action_save()
        elif event.button.id == "follow" and self.looked_up:
            self.follow(self.looked_up)

    async def on_input_submitted(self, event: Input.Submitted) -> None:
        if event.input.id == "lookup" and event.value.strip():
            self.look_up(event.value.strip())
        elif event.input.id in ("name", "bio"):
            self.action_save()

    @work(group="profile-write")
    async def action_save(self) -> None:
        name = self.query_one("#name", Input).value.strip()
        bio = self.query_one("#bio", Input).value.strip()
        if not name:
            self.notify("A profile needs a name.", severity="warning")
            return
        try:
            await self.backend.set_profile(name, bio)
        except BackendError as exc:
            self.notify(f"Profile not saved: {exc}", severity="error")
            return
        self.notify("Profile published")
        self.reload()

    @work(exclusive=True, group="lookup")
    async def look_up(self, peer_id: str) -> None:
        theirs = self.query_one("#theirs", Static)
        try:
            found = await self.backend.profile(peer_id)
        except BackendError as exc:
            theirs.update(Text(str(exc), style="red"))
            self.query_one("#follow", Button).disabled = True
            return
        self.looked_up = peer_id
        theirs.update(profile_text(found or ProfileView(peer_id, "", ""), mine=False))
        self.query_one("#follow", Button).disabled = False

    @work(group="profile-write")
    async def follow(self, peer_id: str) -> None:
        try:
            await self.backend.follow(peer_id)
        except BackendError as exc:
            self.notify(f"Not followed: {exc}", severity="error")
            return
        self.notify(f"Following {peer_id[-8:]}")

    def action_blur(self) -> None:
        self.set_focus(None)
