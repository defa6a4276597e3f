"""The OBS bridge: obs-websocket v5 handshake and auth, battle events to scenes, real battles."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

import pytest

from djmesh.judge.pin import JUDGE_PIN
from djmesh.node.battle import BattleService
from djmesh.node.battle.service import DjSet
from djmesh.node.live import LiveService
from djmesh.node.obs.auth import auth_response
from djmesh.node.obs.bridge import check_scenes, run_obs_bridge, service_snapshots
from djmesh.node.obs.client import ObsClient
from djmesh.node.obs.cues import BattleCue, BattleCueTracker
from djmesh.node.obs.errors import ObsAuthError, ObsError
from djmesh.node.obs.scenes import scene_map
from djmesh.protocol.battle import BattleAccept, BattleWithdraw, Rules, battle_topic
from tests.helpers.network import bootstrap_server, make_node, wait_until
from tests.node.obs.fake_obs import _expected_auth, fake_obs

pytestmark = pytest.mark.timeout(120)
SCENES = ["Lobby", "Intro", "Decks", "Judging", "Winner", "Winner A"]


def test_auth_is_the_v5_formula() -> None:
    assert auth_response("hunter2", "salt", "challenge") == _expected_auth("hunter2", "salt", "challenge")
    assert auth_response("hunter2", "salt", "challenge") != auth_response("hunter2", "salt", "other")


def _battle(phase: str, winner: str | None = None, battle_id: str = "b1") -> dict[str, object]:
    return {"battle_id": battle_id, "phase": phase, "result": {"winner": winner} if winner else None}


def test_cues_from_phase_changes() -> None:
    tracker = BattleCueTracker()
    assert tracker.update([_battle("done", "a", "old")]) == []  # the past is not replayed
    assert tracker.update([_battle("done", "a", "old"), _battle("announced")]) == [
        BattleCue("announced", "b1")
    ]
    assert tracker.update([_battle("accepted")]) == []
    assert tracker.update([_battle("sets")]) == [BattleCue("started", "b1")]
    assert tracker.update([_battle("sets")]) == []
    assert tracker.update([_battle("commit")]) == [BattleCue("ended", "b1")]
    assert tracker.update([_battle("reveal")]) == []
    assert tracker.update([_battle("done", "b")]) == [BattleCue("result", "b1", winner="b")]
    # a forfeit goes from the sets straight to done; a missed poll still yields every step
    tracker = BattleCueTracker("b2")
    tracker.update([])
    assert [c.event for c in tracker.update([_battle("sets", battle_id="b2"), _battle("sets")])] == [
        "announced",
        "started",
    ]
    assert [c.event for c in tracker.update([_battle("done", "a", "b2")])] == ["ended", "result"]
    tracker = BattleCueTracker()
    tracker.update([_battle("announced")])
    assert tracker.update([_battle("cancelled")]) == [BattleCue("cancelled", "b1")]


def test_scene_map(tmp_path: Path) -> None:
    file = tmp_path / "scenes.toml"
    file.write_text('[scenes]\nannounced = "Intro"\nresult = "Winner"\nresult_a = "Winner A"\n')
    scenes = scene_map(["started=Decks"], file)
    assert scenes.scene_for(BattleCue("started", "x")) == "Decks"
    assert scenes.scene_for(BattleCue("result", "x", winner="a")) == "Winner A"
    assert scenes.scene_for(BattleCue("result", "x", winner="b")) == "Winner"
    assert scenes.scene_for(BattleCue("ended", "x")) is None
    for flags, words in (
        (["dance=Decks"], "unknown battle event 'dance'"),
        (["started"], "EVENT=SCENE"),
        ([], "no scenes"),
    ):
        with pytest.raises(ObsError, match=words):
            scene_map(flags)


async def test_handshake_auth_and_requests() -> None:
    async with fake_obs("hunter2", SCENES) as obs:
        async with ObsClient(obs.url, "hunter2") as client:
            assert client.obs_version == "5.5.0"
            assert await client.scene_names() == SCENES
            await client.set_scene("Decks")
            with pytest.raises(ObsError, match=r"refused SetCurrentProgramScene \(code 600\)"):
                await client.set_scene("Nope")
            with pytest.raises(ObsError, match="no scene 'Missing'"):
                await check_scenes(client, scene_map(["started=Missing"]))
        assert obs.program == "Decks" and obs.identified == 1
        with pytest.raises(ObsAuthError, match="refused the password"):
            await ObsClient(obs.url, "wrong").connect()
        with pytest.raises(ObsAuthError, match="asks for a password"):
            await ObsClient(obs.url, None).connect()
        assert obs.refused == 1
    async with fake_obs(None, SCENES) as open_obs:  # OBS with authentication off
        async with ObsClient(open_obs.url) as client:
            await client.set_scene("Lobby")
        url = open_obs.url
    with pytest.raises(ObsError, match="cannot reach OBS"):
        await ObsClient(url).connect()


async def test_a_real_battle_switches_the_scenes(tmp_path: Path) -> None:
    """DJ A challenges DJ B, B accepts but withdraws once the sets started: start, end, and A wins by
    forfeit (a forfeit needs the absent DJ's own withdrawal, or 2f+1 members saying its set never came)."""
    scenes = scene_map(
        ["announced=Intro", "started=Decks", "ended=Judging", "result=Winner", "result_a=Winner A"]
    )
    async with contextlib.AsyncExitStack() as stack:
        boot = await stack.enter_async_context(bootstrap_server())
        obs = await stack.enter_async_context(fake_obs("hunter2", SCENES))
        a = await stack.enter_async_context(make_node(tmp_path, "dj-a", boot))
        b = await stack.enter_async_context(make_node(tmp_path, "dj-b", boot))
        a_live = await stack.enter_async_context(LiveService(a))
        a_battles = await stack.enter_async_context(BattleService(a, a_live))
        await b.connect(a.listen_addrs[0])
        await wait_until(lambda: bool(a.peers()), what="the DJs to connect")
        client = await stack.enter_async_context(ObsClient(obs.url, "hunter2"))
        await check_scenes(client, scenes)
        lines: list[dict[str, object]] = []
        bridge = asyncio.ensure_future(
            run_obs_bridge(client, service_snapshots(a_battles), scenes, emit=lines.append, poll_s=0.1)
        )
        try:
            rules = Rules(set_seconds=10, mode="simultaneous", tracks=1, model=JUDGE_PIN)
            battle_id = await a_battles.announce(
                b.peer_id,
                DjSet("lavfi:sine=frequency=440", titles=("one",), cues_ms=(0,)),
                rules=rules,
                start_in_s=3.0,
                accept_s=2.5,
                title="MIDI vs OBS",
            )
            await b.join_topic(battle_topic(battle_id))
            await wait_until(lambda: bool(obs.switches()), what="the announcement to switch a scene")
            await b.publish(BattleAccept(battle=battle_id, seed_commit=bytes(range(32))))
            await wait_until(lambda: "Decks" in obs.switches(), what="the sets to start")
            await b.publish(BattleWithdraw(battle=battle_id))
            await wait_until(
                lambda: len(obs.switches()) >= 4, timeout=40, what=lambda: f"4 switches, got {lines}"
            )
        finally:
            bridge.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await bridge
    assert obs.switches() == ["Intro", "Decks", "Judging", "Winner A"]
    assert [line["event"] for line in lines] == ["announced", "started", "ended", "result"]
    assert all(line["ok"] and line["battle_id"] == battle_id.hex() for line in lines)
    assert lines[-1]["winner"] == "a"
