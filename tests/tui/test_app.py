"""Navigation and actions with Pilot, on fixed data (no network)."""

from __future__ import annotations

import asyncio
from typing import Any

from pytest import MonkeyPatch
from textual import events
from textual.command import CommandPalette
from textual.pilot import Pilot
from textual.widgets import DataTable, Input

from djmesh.tui.app import DjmeshApp
from djmesh.tui.playback import Output
from djmesh.tui.screens.battle import BattleScreen
from djmesh.tui.screens.battles import BattlesScreen
from djmesh.tui.screens.crews import CrewsScreen
from djmesh.tui.screens.feed import FeedScreen
from djmesh.tui.screens.forms import FormDialog
from djmesh.tui.screens.help import HelpScreen
from djmesh.tui.screens.log import LogScreen
from djmesh.tui.screens.peers import PeersScreen
from djmesh.tui.screens.profile import ProfileScreen
from djmesh.tui.screens.settings import SettingsScreen
from djmesh.tui.screens.wallet import WalletScreen
from djmesh.tui.widgets.vote import VoteDialog
from tests.helpers.network import wait_until
from tests.tui.fake import ADA, BOB, FixedBackend, battle, challenge

SIZE = (120, 40)


def app_with(backend: FixedBackend) -> DjmeshApp:
    return DjmeshApp(backend, watch_peers=False)


def screen_text(app: DjmeshApp) -> str:
    """Everything the screen shows, as plain text (what a user would read)."""
    return "\n".join(strip.text for strip in app.screen._compositor.render_strips())


async def paste(pilot: Pilot[Any], text: str) -> None:
    """``text`` pasted into the focused field, as a terminal's bracketed paste hands it to the app.

    A user pastes peer IDs and paths rather than typing them. So do the tests on real nodes: typed one key
    at a time (a repaint each), a peer ID and a path took tens of seconds on a loaded machine, longer than a
    challenge's accept window.
    """
    pilot.app.post_message(events.Paste(text))
    await pilot.pause()


async def test_keys_visit_every_screen_and_q_quits_cleanly() -> None:
    backend = FixedBackend()
    app = app_with(backend)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert isinstance(app.screen, BattleScreen)
        for key, screen in [
            ("f", FeedScreen),
            ("p", PeersScreen),
            ("u", ProfileScreen),
            ("g", CrewsScreen),
            ("w", WalletScreen),
            ("a", BattlesScreen),
            ("s", SettingsScreen),
            ("l", LogScreen),
            ("b", BattleScreen),
        ]:
            await pilot.press(key)
            await pilot.pause()
            assert isinstance(app.screen, screen), key
        await pilot.press("question_mark")
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, BattleScreen)
        await pilot.press("q")
        await pilot.pause()
    assert backend.stopped
    assert app.return_code == 0


async def test_battle_screen_shows_both_djs_and_the_words_users_look_for() -> None:
    app = app_with(FixedBackend())
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause(0.2)
        text = screen_text(app)
    for word in ("BPM", "Key", "Battle", "Chat", "Peers", "DJ Ada", "DJ Bob", "8A", "3 of 6", "Reveals"):
        assert word in text, word
    assert "that transition!" in text


async def test_chat_react_and_vote_from_the_battle_screen() -> None:
    backend = FixedBackend()
    app = app_with(backend)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await pilot.press("c")
        assert isinstance(app.focused, Input)
        await pilot.press(*"nice drop", "enter")
        await pilot.pause(0.2)
        assert backend.lines[-1].text == "nice drop"
        await pilot.press("escape", "r")
        await pilot.pause(0.2)
        assert backend.reactions == [("7f3a" * 16, "🔥")]
        await pilot.press("v")
        await pilot.pause()
        assert isinstance(app.screen, VoteDialog)
        await pilot.press("b")
        await pilot.pause(0.2)
        assert isinstance(app.screen, BattleScreen)
        assert backend.reactions[-1] == ("7f3a" * 16, "vote:b")
        assert backend.lines[-1].text == "🗳 votes for DJ B"
        assert any("voted for DJ B" in n.message for n in app._notifications)
        await pilot.press("v", "escape")
        await pilot.pause(0.2)
        assert len(backend.reactions) == 2  # Esc casts nothing


async def test_no_battle_is_a_message_not_an_error() -> None:
    app = app_with(FixedBackend(battles=[]))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause(0.2)
        await pilot.press("r")
        await pilot.pause(0.2)
        assert "Battle: none yet" in screen_text(app)
        assert any(n.severity == "warning" for n in app._notifications)


async def test_post_follow_profile_and_crew() -> None:
    backend = FixedBackend()
    app = app_with(backend)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("f", "c", *"hello mesh", "enter")
        await pilot.pause(0.2)
        assert backend.posts[0].text == "hello mesh"
        await pilot.press("escape", "p")
        await pilot.pause(0.2)
        table = app.screen.query_one("#peers-table", DataTable)
        assert table.row_count == 2
        await pilot.press("o")
        await pilot.pause(0.2)
        assert backend.followed == [ADA]
        await pilot.press("u")
        await pilot.pause(0.2)
        name = app.screen.query_one("#name", Input)
        assert name.value == "DJ Test"
        name.value = "DJ Renamed"
        await pilot.press("ctrl+s")
        await pilot.pause(0.2)
        assert backend.me.name == "DJ Renamed"
        await pilot.press("g", "c", *"Night Owls", "enter")
        await pilot.pause(0.2)
        assert [c.name for c in backend.crew_rows] == ["Bass Collective", "Night Owls"]


async def test_command_palette_opens_with_ctrl_p() -> None:
    app = app_with(FixedBackend())
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("ctrl+p")
        await pilot.pause(0.2)
        assert isinstance(app.screen, CommandPalette)
        await pilot.press(*"Show Feed")
        await pilot.pause(0.5)
        await pilot.press("enter")
        await pilot.pause(0.3)
        assert isinstance(app.screen, FeedScreen)


async def test_backend_failures_become_notifications() -> None:
    class Broken(FixedBackend):
        async def start(self) -> None:
            raise RuntimeError("no identity here")

    app = app_with(Broken())
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause(0.2)
        assert any("no identity here" in n.message and n.severity == "error" for n in app._notifications)
        assert isinstance(app.screen, BattleScreen)


async def test_live_figures_follow_the_backend_at_ten_hertz_or_more() -> None:
    backend = FixedBackend()
    app = app_with(backend)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause(0.2)
        backend._battles = [battle(level_db=-3.5)]
        await pilot.pause(0.15)  # one refresh period at 12 Hz is 83 ms
        assert "-3.5dB" in screen_text(app)


async def test_battles_screen_lists_challenges_and_accepts_joins_and_watches() -> None:
    backend = FixedBackend(battles=[battle(), challenge()])
    app = app_with(backend)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("a")
        await pilot.pause(0.2)
        table = app.screen.query_one("#battles-table", DataTable)
        assert table.row_count == 2
        text = screen_text(app)
        assert "live (reveal)" in text and "challenge to you: y accepts" in text
        # The live battle comes first; accepting it is refused with a message.
        await pilot.press("y")
        await pilot.pause(0.2)
        assert isinstance(app.screen, BattlesScreen)
        assert any("Only a challenge to you" in n.message for n in app._notifications)
        await pilot.press("j")
        await pilot.pause(0.2)
        assert backend.commands == [("battle_join", {"battle_id": "7f3a" * 16})]
        await pilot.press("down", "y")
        await pilot.pause(0.2)
        assert isinstance(app.screen, FormDialog)
        await pilot.press(*"/sets/mine.toml", "enter")
        await pilot.pause(0.2)
        assert backend.commands[-1] == ("battle_accept", {"battle_id": "c0de" * 16, "set": "/sets/mine.toml"})
        await pilot.press("enter")  # watch the selected battle
        await pilot.pause(0.2)
        assert isinstance(app.screen, BattleScreen)
        assert "Friday night challenge" in screen_text(app)


async def test_challenge_dialog_needs_opponent_and_set_and_reports_refusals() -> None:
    backend = FixedBackend(battles=[])
    app = app_with(backend)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("a", "c")
        await pilot.pause(0.2)
        assert isinstance(app.screen, FormDialog)
        await pilot.press(*BOB, "enter")  # no set file yet: stays open, asks for it
        await pilot.pause(0.2)
        assert isinstance(app.screen, FormDialog)
        assert app.focused is not None and app.focused.id == "set-file"
        await pilot.press(*"set.wav", "tab", *"Round one", "enter")
        await pilot.pause(0.2)
        assert backend.commands == [
            ("battle_challenge", {"peer": BOB, "set": "set.wav", "title": "Round one"})
        ]
        await pilot.press("c", *"nobody", "tab", *"set.wav", "enter")
        await pilot.pause(0.2)
        assert any(n.severity == "error" and "Challenge not sent" in n.message for n in app._notifications)


async def test_hear_cycles_djs_and_volume_keys_change_the_shown_state() -> None:
    backend = FixedBackend()
    app = app_with(backend)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause(0.2)
        await pilot.press("h")
        await pilot.pause(0.2)
        assert backend.heard == ["aa" * 32] and "DJ A on Test Speakers · vol 80%" in screen_text(app)
        await pilot.press("plus", "plus", "plus")
        await pilot.pause(0.2)
        assert backend.volume.level == 1.0 and "vol 100%" in screen_text(app)
        await pilot.press("minus")
        await pilot.pause(0.2)
        assert "vol 90%" in screen_text(app)
        await pilot.press("m")
        await pilot.pause(0.2)
        assert backend.volume.gain == 0.0 and "muted" in screen_text(app)
        await pilot.press("h", "h")
        await pilot.pause(0.2)
        assert backend.heard == ["aa" * 32, "bb" * 32, None]
        assert "h hears a DJ" in screen_text(app)


async def test_without_a_sound_device_the_battle_screen_says_so_and_h_plays_nothing() -> None:
    backend = FixedBackend(output=Output(None, "Error querying device -1"))
    app = app_with(backend)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await pilot.pause(0.2)
        assert "no sound device: audio is not played (meters only)" in screen_text(app)
        assert "BPM 125.0" in screen_text(app)  # the meters still show
        await pilot.press("h")
        await pilot.pause(0.2)
        assert backend.heard == []
        assert any("No sound device" in n.message for n in app._notifications)
        await pilot.press("plus")
        await pilot.pause(0.2)
        assert "vol 90%" in screen_text(app)  # the volume is still yours to set


async def test_the_app_asks_for_the_sound_device_when_the_backend_has_not(monkeypatch: MonkeyPatch) -> None:
    asked: list[bool] = []

    def find_output() -> Output:
        asked.append(True)
        return Output(None, "no PortAudio")

    monkeypatch.setattr("djmesh.tui.app.find_output", find_output)
    backend = FixedBackend()
    backend.output = None
    app = app_with(backend)
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(lambda: backend.output is not None, what="the sound device looked for")
        await pilot.pause(0.2)
        assert asked == [True] and "no sound device" in screen_text(app)


async def test_q_leaves_before_the_backend_stops_and_the_stop_still_runs() -> None:
    """A slow stop (a node saying goodbye) happens after the app's screen is gone, not before it."""
    backend = SlowStopBackend()
    app = app_with(backend)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await pilot.press("q")
        await wait_until(lambda: not app.is_running, what="the app to leave")
        assert not backend.stopped  # the screen went first
        backend.release.set()
    assert backend.stopped and app.return_code == 0


class SlowStopBackend(FixedBackend):
    def __init__(self) -> None:
        super().__init__()
        self.release = asyncio.Event()

    async def stop(self) -> None:
        await self.release.wait()
        self.stopped = True
