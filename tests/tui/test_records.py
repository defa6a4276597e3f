"""Leaderboard, notifications, records and toasts, with Pilot on fixed data (no network)."""

from __future__ import annotations

from dataclasses import replace

from djmesh.tui.app import DjmeshApp
from djmesh.tui.notices import NoticeWatcher
from djmesh.tui.screens.battle import BattleScreen
from djmesh.tui.screens.battles import BattlesScreen
from djmesh.tui.screens.leaderboard import LeaderboardScreen
from djmesh.tui.screens.notifications import NotificationsScreen
from djmesh.tui.screens.profile import ProfileScreen
from tests.helpers.network import wait_until
from tests.tui.fake import ADA, NOTICES, FixedBackend, battle, notice
from tests.tui.test_app import screen_text

SIZE = (120, 40)


def app_with(backend: FixedBackend) -> DjmeshApp:
    return DjmeshApp(backend, watch_peers=False)


async def test_leaderboard_shows_names_tiers_and_records_per_genre() -> None:
    app = app_with(FixedBackend())
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("t")
        await pilot.pause(0.2)
        assert isinstance(app.screen, LeaderboardScreen)
        text = screen_text(app)
        assert "Leaderboard: every genre" in text
        for word in ("DJ Ada", "1563.9", "Silver", "7.62", "DJ Test (you)", "DJ Bob", "techno"):
            assert word in text, word
        assert "[b]DJ Ada[/b]" in text  # a peer's name is shown as written, never as markup
        assert "12D3KooW" not in text  # people, not peer IDs
        await pilot.press("n")
        await pilot.pause(0.1)
        text = screen_text(app)
        assert "Leaderboard: house" in text and "techno" not in text.split("Leaderboard: house", 1)[1]
        await pilot.press("n")
        await pilot.pause(0.1)
        assert "Leaderboard: techno" in screen_text(app) and "1563.9" not in screen_text(app)
        await pilot.press("n")
        await pilot.pause(0.1)
        assert "Leaderboard: every genre" in screen_text(app)


async def test_an_empty_leaderboard_says_why() -> None:
    backend = FixedBackend()
    backend.board = []
    app = app_with(backend)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("t")
        await pilot.pause(0.2)
        assert "No verified results yet" in screen_text(app)


async def test_notifications_list_and_open_challenges_and_results() -> None:
    app = app_with(FixedBackend())
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("i")
        await pilot.pause(0.2)
        assert isinstance(app.screen, NotificationsScreen)
        text = screen_text(app)
        for line in (
            "DJ Ada challenges you to a house battle: Friday night",
            "see you at 9 [red]@test[/red]",  # as written
            "Warm-up: you won against DJ Bob (7.62 to 4.57)",
            "DJ Bob follows you",
            "challenge",
            "result",
        ):
            assert line in text, line
        await pilot.press("enter")  # the challenge: to Battles, where y accepts it
        await pilot.pause(0.2)
        assert isinstance(app.screen, BattlesScreen)
        await pilot.press("i", "down", "down", "enter")  # the result: watch that battle
        await pilot.pause(0.2)
        assert isinstance(app.screen, BattleScreen) and app.watching == "7f3a" * 16


async def test_a_profile_shows_the_record() -> None:
    app = app_with(FixedBackend())
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("u")
        await pilot.pause(0.2)
        assert isinstance(app.screen, ProfileScreen)
        await pilot.click("#lookup")
        await pilot.press(*ADA, "enter")
        await pilot.pause(0.3)
        text = screen_text(app)
        for word in ("DJ Ada", "Silver", "3W 1L 0D", "average score 7.62", "house", "1563.9", "#1"):
            assert word in text, word
        assert "Unranked: no verified battle yet" in text  # ours (the fake's own profile has no record)


async def test_new_challenges_mentions_and_results_become_toasts_once() -> None:
    live = "d0" * 32  # not the battle whose result is among the old notifications
    backend = FixedBackend(battles=[battle("reveal", battle_id=live)])
    app = app_with(backend)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await wait_until(lambda: app.notices.started, what="the first look at the notifications")
        assert not any("challenges you" in n.message for n in app._notifications)  # old news: no toast
        backend.notices.insert(
            0, notice(0, "challenge", "DJ Bob challenges you to a techno battle", "be" * 32)
        )
        backend.notices.insert(0, notice(-1, "mention", "DJ Bob mentioned you: [bold]hi[/bold]"))
        backend.notices.insert(0, notice(-2, "reaction", "DJ Bob reacted 🔥"))
        await wait_until(
            lambda: any("techno battle" in n.message for n in app._notifications), what="the challenge toast"
        )
        await wait_until(
            lambda: any("[bold]hi[/bold]" in n.message for n in app._notifications), what="mention"
        )
        assert not any(
            "reacted" in n.message for n in app._notifications
        )  # reactions are listed, not toasted
        # the battle on screen gets its winner: one toast, with the DJ's name
        backend._battles = [battle("done", battle_id=live)]
        await wait_until(
            lambda: any(n.message == "djmesh demo battle: DJ Ada wins" for n in app._notifications),
            what="the result toast",
        )
        await pilot.pause(2.5)  # another look: nothing is toasted twice
        messages = [n.message for n in app._notifications]
        assert messages.count("djmesh demo battle: DJ Ada wins") == 1
        assert sum("techno battle" in m for m in messages) == 1


def test_a_result_is_toasted_once_from_the_notification_or_the_battle() -> None:
    watcher = NoticeWatcher()
    done = battle("done", battle_id="d0" * 32)
    # the first look learns what is there
    assert watcher.news(NOTICES, [battle("reveal", battle_id="d0" * 32)]) == []
    mine = notice(-1, "result", "djmesh demo battle: you won against DJ Bob (7.62 to 4.57)", done.battle_id)
    toasts = watcher.news([mine, *NOTICES], [done])
    assert [(t.title, t.text) for t in toasts] == [("Result", mine.text)]  # ours: the personal line
    assert watcher.news([mine, *NOTICES], [done]) == []
    other = replace(done, battle_id="ab" * 32, title="Other clash")
    assert [t.text for t in watcher.news([mine, *NOTICES], [done, other])] == ["Other clash: DJ Ada wins"]
