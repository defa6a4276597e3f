"""The battle screen: both DJs live, the committee's consensus, the battle chat and reactions."""

from __future__ import annotations

from datetime import UTC, datetime

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import Footer, Header, Input, RichLog

from djmesh.tui.backend import BackendError
from djmesh.tui.model import BattleView, ChatLine, VoteOutcome
from djmesh.tui.screens.base import DjmeshScreen
from djmesh.tui.widgets.consensus import ConsensusPanel
from djmesh.tui.widgets.dj_panel import DjPanel
from djmesh.tui.widgets.live_text import LiveText

LIVE_HZ = 12.0
NO_DEVICE = "no sound device: audio is not played (meters only)"
REACTIONS = {"1": "🔥", "2": "🙌", "3": "💯", "4": "😬"}


def chat_line_text(line: ChatLine) -> Text:
    stamp = datetime.fromtimestamp(line.created_at / 1000, UTC).strftime("%H:%M")
    return Text.assemble((stamp + " ", "dim"), (line.author, "bold cyan"), ": " + line.text)


class BattleScreen(DjmeshScreen):
    """Live figures are pulled from the backend on a 12 Hz timer: one repaint however many updates."""

    BINDINGS = [  # noqa: RUF012 (Textual reads it as a class attribute)
        Binding("c", "focus_chat", "Chat"),
        Binding("r", "react('1')", "React"),
        Binding("v", "vote", "Vote"),
        Binding("n", "next_battle", "Next"),
        Binding("h", "hear", "Hear"),
        Binding("m", "mute", "Mute"),
        Binding("plus,equals_sign", "volume(1)", "Vol+", key_display="+"),
        Binding("minus", "volume(-1)", "Vol-", key_display="-"),
        Binding("escape", "blur", "Leave chat", show=False),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.battle_index = 0
        self.room: str | None = None
        self._chat_seen: list[ChatLine] = []

    def compose(self) -> ComposeResult:
        yield Header()
        yield LiveText(id="battle-title")
        yield LiveText(id="battle-audio")
        with Horizontal(id="djs"):
            yield DjPanel("a", id="dj-a")
            yield DjPanel("b", id="dj-b")
        with Horizontal(id="battle-bottom"):
            consensus = ConsensusPanel(id="consensus")
            consensus.border_title = "Committee consensus"
            yield consensus
            with Vertical(id="chat"):
                log = RichLog(id="chat-log", wrap=True, markup=False)
                log.border_title = "Chat"
                yield log
                yield Input(placeholder="Say something to the battle (Enter sends)", id="chat-input")
        yield Footer()

    def on_mount(self) -> None:
        self.refresh_live()
        self.set_interval(1 / LIVE_HZ, self.refresh_live)
        self.set_interval(2.0, self.reload_chat)

    def current(self) -> BattleView | None:
        """The battle picked on the Battles screen, else the newest."""
        battles = self.backend.battles()
        if not battles:
            return None
        watching = self.djmesh.watching
        chosen = next((b for b in battles if b.battle_id == watching), None)
        return chosen or battles[self.battle_index % len(battles)]

    def audio_text(self) -> Text:
        """What plays, how loud and where to, always shown so the keys' effect is visible."""
        backend = self.backend
        volume = backend.volume.label()
        output = backend.output
        if output is not None and output.device is None:
            return Text.assemble(("🔇 ", "bold"), (NO_DEVICE, "bold yellow"), (f" · {volume}", "dim"))
        if backend.hearing is None:
            return Text(f"🔈 h hears a DJ · {volume}", style="dim")
        where = f" on {output.device}" if output is not None else ""
        return Text(
            f"🔊 {backend.hearing}{where} · {volume}",
            style="yellow" if backend.volume.muted else "bold green",
        )

    def refresh_live(self) -> None:
        battle = self.current()
        title = self.query_one("#battle-title", LiveText)
        self.query_one("#battle-audio", LiveText).put(self.audio_text())
        if battle is None:
            title.put(Text("Battle: none yet", style="bold"))
            for panel in self.query(DjPanel):
                panel.show(None, (0, 0))
        else:
            title.put(
                Text.assemble(
                    ("Battle: ", "bold"),
                    (battle.title, "bold magenta"),
                    f"  {battle.genre} {battle.bpm_range[0]}-{battle.bpm_range[1]} BPM  ",
                    (battle.battle_id[:12], "dim"),
                )
            )
            for panel in self.query(DjPanel):
                panel.show(battle.sides.get(panel.side), battle.bpm_range)
        self.query_one(ConsensusPanel).show(battle)
        room = battle.room if battle else None
        if room != self.room:
            self.room = room
            self._chat_seen = []
            self.query_one("#chat-log", RichLog).clear()
            self.reload_chat()

    def on_data_changed(self, what: str) -> None:
        if what == "chat":
            self.reload_chat()
        elif what == "battle":
            self.refresh_live()

    @work(exclusive=True, group="chat")
    async def reload_chat(self) -> None:
        if self.room is None:
            return
        try:
            lines = await self.backend.chat_history(self.room)
        except BackendError:
            return
        log = self.query_one("#chat-log", RichLog)
        if lines[: len(self._chat_seen)] != self._chat_seen:
            log.clear()
            self._chat_seen = []
        for line in lines[len(self._chat_seen) :]:
            log.write(chat_line_text(line))
        self._chat_seen = lines

    async def on_input_submitted(self, event: Input.Submitted) -> None:
        if event.input.id != "chat-input" or not event.value.strip():
            return
        if self.room is None:
            self.notify("There is no battle to chat in yet.", severity="warning")
            return
        text = event.value.strip()
        event.input.clear()
        self.send_chat(self.room, text)

    @work(group="send")
    async def send_chat(self, room: str, text: str) -> None:
        try:
            await self.backend.chat(room, text)
        except BackendError as exc:
            self.notify(f"Chat not sent: {exc}", severity="error")
            return
        self.reload_chat()

    @work(group="send")
    async def action_react(self, which: str) -> None:
        battle = self.current()
        emoji = REACTIONS.get(which, "🔥")
        if battle is None:
            self.notify("There is no battle to react to yet.", severity="warning")
            return
        try:
            await self.backend.react(battle.battle_id, emoji)
        except BackendError as exc:
            self.notify(f"Reaction not sent: {exc}", severity="error")
            return
        self.notify(f"You reacted {emoji}")
        self.reload_chat()

    def action_vote(self) -> None:
        battle = self.current()
        if battle is None:
            self.notify("There is no battle to vote in yet.", severity="warning")
            return
        self.ask_vote(battle)

    def on_voted(self, outcome: VoteOutcome) -> None:
        if not outcome.binding:
            self.reload_chat()

    def action_next_battle(self) -> None:
        battles = self.backend.battles()
        if len(battles) < 2:
            self.notify("This is the only battle so far.")
            return
        current = self.current()
        index = next((i for i, b in enumerate(battles) if current and b.battle_id == current.battle_id), 0)
        self.battle_index = (index + 1) % len(battles)
        self.djmesh.watching = battles[self.battle_index].battle_id
        self.refresh_live()

    @work(exclusive=True, group="audio")
    async def action_hear(self) -> None:
        """Cycles what plays: DJ A, DJ B, nothing."""
        battle = self.current()
        if battle is None:
            self.notify("There is no battle to hear yet.", severity="warning")
            return
        output = self.backend.output
        if output is not None and output.device is None:
            self.notify(
                f"No sound device: audio is not played (meters only). {output.why_not}", title="Audio"
            )
            return
        order = [None, "a", "b"]
        heard = next((s for s in ("a", "b") if self.backend.hearing == f"DJ {s.upper()}"), None)
        side = order[(order.index(heard) + 1) % len(order)]
        stream = battle.streams.get(side) if side else None
        if side is not None and stream is None:
            self.notify(f"DJ {side.upper()} is not streaming yet.", severity="warning")
            side = None
        try:
            await self.backend.hear(stream, f"DJ {side.upper()}" if side else "")
        except BackendError as exc:
            self.notify(f"No sound: {exc}", title="Audio", severity="warning")
        self.refresh_live()

    def action_mute(self) -> None:
        self.backend.volume.toggle_mute()
        self.refresh_live()

    def action_volume(self, step: int) -> None:
        volume = self.backend.volume
        volume.louder() if step > 0 else volume.quieter()
        self.refresh_live()

    def action_focus_chat(self) -> None:
        self.query_one("#chat-input", Input).focus()

    def action_blur(self) -> None:
        self.set_focus(None)
