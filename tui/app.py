"""The djmesh terminal app: one screen per mode (Battle first), a backend that does the talking."""

from __future__ import annotations

import asyncio
import logging
import sys
import time
from collections.abc import Iterable
from typing import ClassVar

from textual import work
from textual.app import App, SystemCommand
from textual.binding import Binding, BindingType
from textual.screen import Screen

from djmesh.tui.backend import Backend, BackendError, LogBuffer, short
from djmesh.tui.notices import NoticeWatcher
from djmesh.tui.playback import find_output
from djmesh.tui.screens.base import DjmeshScreen
from djmesh.tui.screens.battle import BattleScreen
from djmesh.tui.screens.battles import BattlesScreen
from djmesh.tui.screens.crews import CrewsScreen
from djmesh.tui.screens.feed import FeedScreen
from djmesh.tui.screens.help import HelpScreen
from djmesh.tui.screens.leaderboard import LeaderboardScreen
from djmesh.tui.screens.log import LogScreen
from djmesh.tui.screens.notifications import NotificationsScreen
from djmesh.tui.screens.peers import PeersScreen
from djmesh.tui.screens.profile import ProfileScreen
from djmesh.tui.screens.settings import SettingsScreen
from djmesh.tui.screens.wallet import WalletScreen

log = logging.getLogger(__name__)

STOP_TIMEOUT_S = 20.0
NO_PEERS_GRACE_S = 20.0
NOTICES_EVERY_S = 2.0
SCREENS_BY_NAME = {
    "battle": ("Battle", "both DJs live, the committee, the chat"),
    "battles": ("Battles", "live and upcoming; challenge a DJ, accept, join"),
    "feed": ("Feed", "posts by the people you follow; compose"),
    "peers": ("Peers", "connections, latency, addresses"),
    "leaderboard": ("Leaderboard", "ratings, tiers and records per genre"),
    "notifications": ("Notifications", "challenges, mentions, follows, results of your battles"),
    "profile": ("Profile", "yours and anyone's"),
    "crews": ("Crews", "your crews; found one"),
    "wallet": ("Wallet", "address, balance, listen channels (r refreshes)"),
    "settings": ("Settings", "name, addresses, bootstrap peers, log level, mDNS"),
    "log": ("Log", "the node's home, mode and log"),
}


class DjmeshApp(App[None]):
    """Owns the backend's lifetime: started in a worker on mount, stopped once the screen is gone.

    ``q`` leaves at once, whatever the backend is doing; its graceful stop (flushing, saying
    goodbye to peers) runs when the app unmounts, after the terminal is given back.
    """

    TITLE = "djmesh"
    CSS_PATH = "app.tcss"
    MODES: ClassVar[dict[str, type[Screen[None]]]] = {  # type: ignore[assignment]
        "battle": BattleScreen,
        "battles": BattlesScreen,
        "feed": FeedScreen,
        "peers": PeersScreen,
        "leaderboard": LeaderboardScreen,
        "notifications": NotificationsScreen,
        "profile": ProfileScreen,
        "crews": CrewsScreen,
        "wallet": WalletScreen,
        "settings": SettingsScreen,
        "log": LogScreen,
    }
    DEFAULT_MODE = "battle"
    # Letters are shortcuts until you focus an input (c, or a click): only tables take focus by themselves.
    AUTO_FOCUS = "DataTable"
    # The footer shows the main screens; Profile, Crews, Wallet and Log are in `?` and the palette.
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("question_mark", "help", "Help"),
        Binding("q", "quit", "Quit"),
        Binding("b", "switch_mode('battle')", "Battle"),
        Binding("a", "switch_mode('battles')", "Battles"),
        Binding("f", "switch_mode('feed')", "Feed"),
        Binding("p", "switch_mode('peers')", "Peers"),
        Binding("t", "switch_mode('leaderboard')", "Leaderboard", show=False),
        Binding("i", "switch_mode('notifications')", "Notifications", show=False),
        Binding("u", "switch_mode('profile')", "Profile", show=False),
        Binding("g", "switch_mode('crews')", "Crews", show=False),
        Binding("w", "switch_mode('wallet')", "Wallet", show=False),
        Binding("s", "switch_mode('settings')", "Settings"),
        Binding("l", "switch_mode('log')", "Log", show=False),
    ]

    def __init__(
        self, backend: Backend, *, log_buffer: LogBuffer | None = None, watch_peers: bool = True
    ) -> None:
        super().__init__()
        self.backend = backend
        self.log_buffer = log_buffer or LogBuffer()
        self.ready = asyncio.Event()
        self.watch_peers = watch_peers
        self._started_at = time.monotonic()
        self._warned_no_peers = False
        self._stopping = False
        self.watching: str | None = None  # the battle the Battle screen shows (None: the newest)
        self.notices = NoticeWatcher()
        backend.alert = self._alert
        backend.changed = self._changed

    # -- lifecycle -----------------------------------------------------------------------------

    def on_mount(self) -> None:
        self.sub_title = f"{self.backend.mode} · starting"
        self.start_backend()
        if self.backend.output is None:
            self.find_sound_device()
        self.set_interval(1.0, self.tick)
        self.set_interval(NOTICES_EVERY_S, self.check_notices)

    @work(thread=True, group="sound")
    def find_sound_device(self) -> None:
        """Ask PortAudio for an output device (slow, blocking): the Battle screen says which it is."""
        output = find_output()
        self.backend.output = output
        if output.device is None:
            log.info("no sound device (%s): heard audio is not played", output.why_not)

    @work(exclusive=True, group="backend")
    async def start_backend(self) -> None:
        try:
            await self.backend.start()
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the user reads why, the app stays up
            log.warning("backend did not start: %s", exc, exc_info=True)
            self.notify(f"Could not start: {exc}", title="Node", severity="error", timeout=15)
            return
        self._started_at = time.monotonic()
        self.ready.set()
        self.tick()

    @work(exclusive=True, group="notices")
    async def check_notices(self) -> None:
        """Toasts for new challenges, mentions, follows and results (``tui.notices``)."""
        if not self.ready.is_set():
            return
        try:
            notices = await self.backend.notifications(limit=20)
        except BackendError:
            notices = []
        toasts = self.notices.news(notices, self.backend.battles())
        for toast in toasts:  # peers' words: never parsed as markup
            self.notify(toast.text, title=toast.title, timeout=8, markup=False)
        if toasts:
            self._changed("notifications")

    @work(exclusive=True, group="poll")
    async def tick(self) -> None:
        """Once a second: refresh the header, warn once when we are alone on the network."""
        if self.ready.is_set():
            try:
                await self.backend.poll()
            except BackendError as exc:
                self.notify(f"Lost the node: {exc}", severity="error")
        status = self.backend.status()
        who = short(status.peer_id) if status.peer_id else "starting"
        self.sub_title = f"{status.mode} · {who} · Peers {status.peers}"
        if not (self.watch_peers and self.ready.is_set()):
            return
        if status.peers:
            self._warned_no_peers = False
        elif not self._warned_no_peers and time.monotonic() - self._started_at > NO_PEERS_GRACE_S:
            self._warned_no_peers = True
            self.notify(
                "No peers yet: check the bootstrap addresses in config.toml (or --demo).",
                title="Network",
                severity="warning",
            )

    async def action_quit(self) -> None:
        """Leave now; the backend stops once the screen is gone (``on_unmount``)."""
        self.exit()

    async def on_unmount(self) -> None:
        """The terminal is the user's again: stop the node gracefully (it flushes, says goodbye)."""
        if self._stopping:
            return
        self._stopping = True
        backend = self.backend
        backend.alert = lambda severity, message: None  # no screen is left to show them
        backend.changed = lambda what: None
        note = backend.stopping_note()
        if note and not self.is_headless:
            print(note, file=sys.__stderr__, flush=True)
        try:
            await asyncio.wait_for(backend.stop(), STOP_TIMEOUT_S)
        except Exception as exc:
            log.warning("node shutdown: %s", exc, exc_info=True)

    # -- backend callbacks ---------------------------------------------------------------------

    def _alert(self, severity: str, message: str) -> None:
        level = severity if severity in ("information", "warning", "error") else "information"
        # News (demo progress, mentions) fades fast so toasts do not pile up over the battle.
        self.notify(message, severity=level, timeout=3 if level == "information" else 8)  # type: ignore[arg-type]

    def _changed(self, what: str) -> None:
        screen = self.screen
        if isinstance(screen, DjmeshScreen):
            screen.on_data_changed(what)

    # -- keys and commands ---------------------------------------------------------------------

    def watch_battle(self, battle_id: str) -> None:
        """Show ``battle_id`` on the Battle screen (chosen on the Battles screen)."""
        self.watching = battle_id
        self.switch_mode("battle")

    def action_help(self) -> None:
        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen())

    def get_system_commands(self, screen: Screen[object]) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        for mode, (title, what) in SCREENS_BY_NAME.items():
            yield SystemCommand(f"Show {title}", what, lambda mode=mode: self.switch_mode(mode))
        yield SystemCommand("Help", "every key in one place", self.action_help)
        yield SystemCommand(
            "Quit djmesh", "leave; the node shuts down gracefully afterwards", self.action_quit
        )
