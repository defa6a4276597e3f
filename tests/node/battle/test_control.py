"""Battle control methods and set files: what a daemon answers, and the clear errors for bad input."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest

from djmesh.node.battle.control import battle_methods
from djmesh.node.battle.service import BattleService
from djmesh.node.battle.setfile import SetFileError, load_set
from djmesh.node.control import ControlClient, ControlServer
from djmesh.node.errors import ControlError
from djmesh.node.live.service import LiveService
from djmesh.protocol.battle import BATTLES_TOPIC
from tests.helpers.network import bootstrap_server, make_node, wait_until
from tests.helpers.sets import write_set, write_wav

pytestmark = pytest.mark.timeout(90)


def test_set_file_reads_tracklist_relative_audio_and_length(tmp_path: Path) -> None:
    loaded = load_set(write_set(tmp_path / "sets"))
    assert loaded.dj_set.titles == ("Opener", "Roller", "Closer")
    assert loaded.dj_set.cues_ms == (0, 4000, 8500)
    assert loaded.dj_set.source == str((tmp_path / "sets" / "set.wav").resolve())
    assert abs(loaded.seconds - 12.0) < 0.1
    plain = load_set(write_wav(tmp_path / "mix.wav", 11.0))
    assert plain.dj_set.titles == ("mix",) and plain.dj_set.cues_ms == (0,)


@pytest.mark.parametrize(
    ("body", "error"),
    [
        ('source = "set.wav"\n', "at least one [[tracks]]"),
        ('tracks = [{title = "a", cue = 0}]\n', 'needs source = "<audio file>"'),
        ('source = "set.wav"\ntracks = [{title = "a", cue = 5}, {title = "b", cue = 2}]\n', "must increase"),
        ('source = "set.wav"\ntracks = [{title = "a", cue = "x:1"}]\n', "is not seconds or m:ss"),
        ('source = "set.wav"\ntracks = [{title = "a", cue = 60}]\n', "past the end of the audio"),
        ('source = "gone.wav"\ntracks = [{title = "a", cue = 0}]\n', "cannot open"),
        ("source = \n", "not valid TOML"),
    ],
)
def test_bad_set_files_say_why(tmp_path: Path, body: str, error: str) -> None:
    write_wav(tmp_path / "set.wav", 12.0)
    (tmp_path / "bad.toml").write_text(body)
    with pytest.raises(SetFileError, match=error.replace("[", r"\[").replace("]", r"\]")):
        load_set(tmp_path / "bad.toml")
    not_audio = tmp_path / "notes.txt"
    not_audio.write_text("not audio")
    with pytest.raises(SetFileError):
        load_set(not_audio)


async def test_daemon_methods_announce_accept_join_and_describe(tmp_path: Path) -> None:
    set_file = str(write_set(tmp_path / "sets"))
    async with (
        bootstrap_server() as boot,
        make_node(tmp_path, "dj-a", boot) as a,
        LiveService(a) as a_live,
        BattleService(a, a_live, auto_join=False) as a_battles,
        ControlServer(a, extra_methods=battle_methods(a_battles)),
        make_node(tmp_path, "dj-b", boot) as b,
        LiveService(b) as b_live,
        BattleService(b, b_live, auto_join=False) as b_battles,
        ControlServer(b, extra_methods=battle_methods(b_battles)),
        make_node(tmp_path, "viewer", boot) as v,
        LiveService(v) as v_live,
        BattleService(v, v_live, auto_join=False) as v_battles,
        ControlServer(v, extra_methods=battle_methods(v_battles)),
    ):
        to_a, to_b, to_v = ControlClient(a.home), ControlClient(b.home), ControlClient(v.home)
        await wait_until(
            lambda: all(n.host.mesh_peers(BATTLES_TOPIC) for n in (a, b, v)), what="the battles mesh"
        )
        for params, error in [
            ({"opponent": b.peer_id}, "'set'"),
            ({"opponent": a.peer_id, "set": set_file}, "cannot challenge yourself"),
            ({"opponent": b.peer_id, "set": set_file, "genre": "polka"}, "unknown genre"),
            ({"opponent": b.peer_id, "set": set_file, "start_in_s": 1}, "start_in_s"),
            ({"opponent": b.peer_id, "set": str(tmp_path / "none.toml")}, "does not exist"),
            ({"opponent": "nobody", "set": set_file}, "cannot announce"),
        ]:
            with pytest.raises(ControlError, match=error):
                await to_a.call("battle_announce", **params)
        found = await to_a.call(
            "battle_announce", opponent=b.peer_id, set=set_file, title="control battle", start_in_s=60
        )
        battle_id = found["battle_id"]
        await wait_until(lambda: bytes.fromhex(battle_id) in b_battles.battles, what="the challenge at B")
        await wait_until(
            lambda: bytes.fromhex(battle_id) in v_battles.battles, what="the battle at the viewer"
        )
        listed = await to_b.call("battles")
        assert [x["battle_id"] for x in listed] == [battle_id]
        mine = listed[0]
        assert (
            mine["can_accept"] is True and mine["phase"] == "announced" and mine["title"] == "control battle"
        )
        assert mine["djs"] == {"a": a.peer_id, "b": b.peer_id} and mine["set_seconds"] == 14
        with pytest.raises(ControlError, match="only the challenged DJ"):
            await to_v.call("battle_accept", battle_id=battle_id, set=set_file)
        with pytest.raises(ControlError, match="unknown battle"):
            await to_b.call("battle_accept", battle_id="00" * 32, set=set_file)
        with pytest.raises(ControlError, match="64 hex digits"):
            await to_b.call("battle_state", battle_id="xyz")
        assert (await to_b.call("battle_accept", battle_id=battle_id, set=set_file))["accepted"] is True
        assert (await to_v.call("battle_join", battle_id=battle_id))["joined"] is True

        state: dict[str, Any] = {}
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            state = await to_a.call("battle_state", battle_id=battle_id)
            if state["phase"] == "accepted" and state["joined"] == 1:
                break
            await asyncio.sleep(0.1)
        assert state["phase"] == "accepted" and state["joined"] == 1
        assert state["role"] == "dj-a" and state["can_accept"] is False
        assert (await to_v.call("battle_state", battle_id=battle_id))["role"] == "viewer"
        with pytest.raises(ControlError, match="can no longer be accepted"):
            await to_b.call("battle_accept", battle_id=battle_id, set=set_file)
