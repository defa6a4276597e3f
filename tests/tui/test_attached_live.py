"""An app attached to a daemon shows the daemon's live meters and plays its audio, in a real battle."""

from __future__ import annotations

import contextlib
import re
from collections.abc import AsyncIterator
from pathlib import Path

import numpy as np
import pytest

from djmesh.judge.pin import JUDGE_PIN
from djmesh.node.battle.control import battle_methods
from djmesh.node.battle.service import BattleService, DjSet
from djmesh.node.control import ControlServer
from djmesh.node.live.control import LIVE_METHODS
from djmesh.node.live.service import LiveService
from djmesh.node.node import Node
from djmesh.protocol.battle import BATTLES_TOPIC, Rules
from djmesh.tui.app import DjmeshApp
from djmesh.tui.control_backend import ControlBackend
from djmesh.tui.playback import Output
from tests.helpers.network import bootstrap_server, make_node, wait_until
from tests.helpers.sets import write_wav
from tests.tui.test_app import screen_text
from tests.tui.test_playback import RecordingSink

# quiet-machine seconds, scaled by PATIENCE (tests/conftest.py) as the waits below are
pytestmark = pytest.mark.timeout(200)
SIZE = (140, 40)


@contextlib.asynccontextmanager
async def battle_node(
    stack: contextlib.AsyncExitStack, tmp_path: Path, name: str, boot: list[str]
) -> AsyncIterator[tuple[Node, BattleService]]:
    node = await stack.enter_async_context(make_node(tmp_path, name, boot))
    live = await stack.enter_async_context(LiveService(node))
    battles = await stack.enter_async_context(BattleService(node, live))
    yield node, battles


async def test_attached_app_shows_the_daemons_meters_and_plays_its_audio(tmp_path: Path) -> None:
    set_a = DjSet(str(write_wav(tmp_path / "a.wav", 40.0, bpm=125.0)), ("A1",), (0,))
    set_b = DjSet(str(write_wav(tmp_path / "b.wav", 40.0, bpm=128.0)), ("B1",), (0,))
    rules = Rules.for_genre(
        "house", tracks=1, set_seconds=40, committee_size=1, mode="simultaneous", model=JUDGE_PIN
    )
    async with bootstrap_server() as boot, contextlib.AsyncExitStack() as stack:
        a, a_battles = await stack.enter_async_context(battle_node(stack, tmp_path, "dj-a", boot))
        b, b_battles = await stack.enter_async_context(battle_node(stack, tmp_path, "dj-b", boot))
        daemon, d_battles = await stack.enter_async_context(battle_node(stack, tmp_path, "daemon", boot))
        await stack.enter_async_context(
            ControlServer(daemon, extra_methods={**LIVE_METHODS, **battle_methods(d_battles)})
        )
        await wait_until(
            lambda: all(n.host.mesh_peers(BATTLES_TOPIC) for n in (a, b, daemon)), what="the battles mesh"
        )
        battle_id = await a_battles.announce(
            b.peer_id, set_a, rules=rules, start_in_s=4, accept_s=2, title="Attached Clash"
        )
        await wait_until(lambda: battle_id in b_battles.battles, what="the challenge at B")
        await b_battles.accept(battle_id, set_b)

        backend = ControlBackend(daemon.home)
        backend.output = Output("Test Speakers")  # this machine may have no sound card; the sink stands in
        played: list[RecordingSink] = []
        backend.open_sink = lambda channels: played.append(RecordingSink(channels)) or played[-1]
        app = DjmeshApp(backend, watch_peers=False)
        async with app.run_test(size=SIZE) as pilot:
            await wait_until(app.ready.is_set, what="attached")
            await wait_until(
                lambda: "Attached Clash" in screen_text(app),
                timeout=60,
                what="the battle on the Battle screen",
            )
            # The daemon analyses both streams; the app draws its figures: a level and each DJ's tempo.
            await wait_until(
                lambda: len(re.findall(r"BPM\s+12[0-9]\.[0-9]", screen_text(app))) == 2,
                timeout=60,
                what=lambda: f"both DJs' BPM from the daemon; the screen:\n{screen_text(app)}",
            )
            assert re.search(r"-[0-9]+\.[0-9]dB", screen_text(app))
            views = backend.battles()[0].sides
            assert abs((views["a"].bpm or 0) - 125.0) < 2.5 and abs((views["b"].bpm or 0) - 128.0) < 2.5
            assert views["a"].streaming and views["b"].streaming

            await pilot.press("h")  # hear DJ A: the daemon plays it out, the app plays its samples
            await wait_until(
                lambda: bool(played) and sum(c.shape[0] for c in played[0].chunks) >= 48_000,
                timeout=60,
                what="a second of DJ A's audio at the sink",
            )
            assert backend.hearing == "DJ A" and "DJ A on Test Speakers" in screen_text(app)
            assert max(float(np.abs(c).max()) for c in played[0].chunks) > 0.3 * 0.8  # at the default 80 %
            await pilot.press("q")
            await pilot.pause()
        assert app.return_code == 0 and played[0].closed
        assert backend.hearing is None
