"""The Battles screen on real nodes: challenge from the app's own node, accept through a daemon."""

from __future__ import annotations

from pathlib import Path

import pytest

from djmesh.node.battle.control import battle_methods
from djmesh.node.battle.service import BattleService
from djmesh.node.battle.setfile import load_set
from djmesh.node.control import ControlServer
from djmesh.node.live.service import LiveService
from djmesh.node.node import NodeOptions
from djmesh.protocol.battle import BATTLES_TOPIC, Phase
from djmesh.tui.app import DjmeshApp
from djmesh.tui.control_backend import ControlBackend
from djmesh.tui.node_backend import NodeBackend
from djmesh.tui.screens.battles import BattlesScreen
from tests.helpers.network import LOOPBACK, PATIENCE, bootstrap_server, make_home, make_node, wait_until
from tests.helpers.sets import write_set
from tests.tui.test_app import paste, screen_text

pytestmark = pytest.mark.timeout(120)
SIZE = (140, 40)


async def test_in_process_app_challenges_a_real_peer_who_accepts(tmp_path: Path) -> None:
    set_file = str(write_set(tmp_path / "sets"))
    async with (
        bootstrap_server() as boot,
        make_node(tmp_path, "dj-b", boot) as b,
        LiveService(b) as b_live,
        BattleService(b, b_live, auto_join=False) as b_battles,
    ):
        backend = NodeBackend(make_home(tmp_path, "tui"), NodeOptions(listen=[LOOPBACK], bootstrap=boot))
        app = DjmeshApp(backend, watch_peers=False)
        async with app.run_test(size=SIZE) as pilot:
            await wait_until(app.ready.is_set, what="the app's node to start")
            node = backend.node
            assert node is not None
            await wait_until(
                lambda: b.peer_id in node.host.mesh_peers(BATTLES_TOPIC), what="the battles mesh"
            )
            await pilot.press("a", "c")
            await paste(pilot, b.peer_id)
            await pilot.press("tab")
            await paste(pilot, str(tmp_path / "missing.toml"))
            await pilot.press("enter")
            await wait_until(
                lambda: any("Challenge not sent" in n.message for n in app._notifications), what="the refusal"
            )
            assert not b_battles.battles
            await pilot.press("c")
            await paste(pilot, b.peer_id)
            await pilot.press("tab")
            await paste(pilot, set_file)
            await pilot.press("tab", *"tui battle", "enter")
            await wait_until(lambda: len(b_battles.battles) == 1, what="the challenge to reach DJ B")
            battle_id = next(iter(b_battles.battles))
            assert b_battles.battles[battle_id].machine.spec.title == "tui battle"
            await b_battles.accept(battle_id, load_set(set_file).dj_set)
            await wait_until(
                lambda: "upcoming (accepted" in screen_text(app), what="the acceptance on the Battles screen"
            )
            assert isinstance(app.screen, BattlesScreen) and "you are DJ A" in screen_text(app)
            await pilot.press("q")
            await pilot.pause()
        assert backend.node is None and app.return_code == 0


async def test_attached_app_lists_a_challenge_to_the_daemon_and_accepts_it(tmp_path: Path) -> None:
    set_file = str(write_set(tmp_path / "sets"))
    async with (
        bootstrap_server() as boot,
        make_node(tmp_path, "dj-a", boot) as a,
        LiveService(a) as a_live,
        BattleService(a, a_live, auto_join=False) as a_battles,
        make_node(tmp_path, "daemon", boot) as d,
        LiveService(d) as d_live,
        BattleService(d, d_live, auto_join=False) as d_battles,
        ControlServer(d, extra_methods=battle_methods(d_battles)),
    ):
        backend = ControlBackend(d.home)
        app = DjmeshApp(backend, watch_peers=False)
        async with app.run_test(size=SIZE) as pilot:
            await wait_until(app.ready.is_set, what="attached")
            await wait_until(lambda: d.peer_id in a.host.mesh_peers(BATTLES_TOPIC), what="the battles mesh")
            battle_id = await a_battles.announce(
                d.peer_id,
                load_set(set_file).dj_set,
                rules=d_rules(),
                start_in_s=60 * PATIENCE,  # the accept window is half of it; the sets need not start
                title="challenge to the daemon",
            )
            await pilot.press("a")
            await wait_until(
                lambda: "challenge to you: y accepts" in screen_text(app), what="the challenge on screen"
            )
            await pilot.press("y")
            await paste(pilot, set_file)
            await pilot.press("enter")
            await wait_until(
                lambda: a_battles.battles[battle_id].machine.phase is Phase.ACCEPTED,
                what=lambda: f"DJ A to see the acceptance; notes: {[n.message for n in app._notifications]}",
            )
            assert d_battles.battles[battle_id].my_set is not None  # the daemon streams it at the start
            await wait_until(lambda: "upcoming (accepted" in screen_text(app), what="the new phase on screen")
            await pilot.press("enter")
            await wait_until(lambda: "challenge to the daemon" in screen_text(app), what="the Battle screen")
            assert "Track - of 6" in screen_text(app)
            await pilot.press("q")
            await pilot.pause()
        assert app.return_code == 0


def d_rules() -> object:
    from djmesh.judge import JUDGE_PIN
    from djmesh.protocol.battle import Rules

    return Rules.for_genre("house", set_seconds=14, model=JUDGE_PIN, mode="simultaneous")
