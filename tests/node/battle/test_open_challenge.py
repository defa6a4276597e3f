"""An open challenge on real nodes: two DJs race to take it, and exactly one battle results.

Seven nodes (DJ A, two takers, four viewers) on the in-memory network and a virtual clock
(node/sim/battles.py), deterministic from the seed: both takers accept at the same moment; DJ A's node
binds one; every node then names the same DJ B, the other taker is refused and plays nothing, and the
battle is judged to one verified result naming the bound DJ. The race is decided by the battle protocol,
not the transport; the CLI tests below run a real node process.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from djmesh.node.battle.control import command_methods
from djmesh.node.battle.service import BattleService
from djmesh.node.battle.view import battle_json
from djmesh.node.clock import now_ms, run_virtual
from djmesh.node.errors import ControlError, NodeError
from djmesh.node.sim.battles import SimBattle
from djmesh.protocol.battle import Phase
from tests.helpers.cli import CliRunner
from tests.helpers.sets import write_wav
from tests.helpers.sim import virtual_wait_until

VIEWERS = ("viewer-1", "viewer-2", "viewer-3", "viewer-4")
TAKERS = ("taker-1", "taker-2")

pytestmark = pytest.mark.timeout(300)


def test_two_djs_race_to_take_an_open_challenge_and_one_battle_results(tmp_path: Path) -> None:
    async def main() -> None:
        sim = SimBattle(tmp_path / "nodes", seed=1, djs=("dj-a", *TAKERS), viewers=VIEWERS)
        try:
            await sim.start()
            await sim.settle()
            await race(tmp_path, {name: peer.battles for name, peer in sim.peers.items()})
        finally:
            await sim.close()

    run_virtual(main())


async def race(tmp_path: Path, peers: dict[str, BattleService]) -> None:
    a = peers["dj-a"]
    # through the control methods `djmesh battle challenge --open` and `battle accept` call
    methods = {name: command_methods(_services(p)) for name, p in peers.items()}
    challenge = {
        "open": True,
        "set": str(write_wav(tmp_path / "a.wav", 8.0, bpm=125.0)),
        "genre": "house",
        "tracks": 2,
        "set_seconds": 10,
        "mode": "simultaneous",
        "start_in_s": 24,
        "accept_s": 12,
        "commit_seconds": 60,
    }
    with pytest.raises(ControlError, match="open challenge cannot have a prize"):
        await methods["dj-a"]["battle_challenge"](a.node, {**challenge, "prize_wei": "1000"})
    made = await methods["dj-a"]["battle_challenge"](a.node, challenge)
    battle_id = bytes.fromhex(made["battle_id"])
    await virtual_wait_until(
        lambda: all(battle_id in peers[n].battles for n in ("dj-a", *TAKERS)),
        timeout_s=30,
        what="the open challenge at DJ A's node and both takers",
    )
    assert a.battles[battle_id].machine.spec.is_open
    for name in TAKERS:
        assert battle_json(peers[name], peers[name].battles[battle_id])["can_accept"]
    sets = {
        name: str(write_wav(tmp_path / f"{name}.wav", 8.0, bpm=bpm))
        for name, bpm in zip(TAKERS, (128.0, 131.0), strict=True)
    }
    with pytest.raises(NodeError, match="your own open challenge"):
        await methods["dj-a"]["battle_accept"](a.node, {"battle_id": battle_id.hex(), "set": sets[TAKERS[0]]})
    # the race: both accepts leave at once; each is an offer until DJ A's node binds one
    offers = await asyncio.gather(
        *(
            methods[name]["battle_accept"](
                peers[name].node, {"battle_id": battle_id.hex(), "set": sets[name]}
            )
            for name in TAKERS
        )
    )
    assert all(offer["open"] and offer["stake_wei"] == "0" for offer in offers)

    keys = {name: peers[name].node.public_key for name in TAKERS}
    await virtual_wait_until(
        lambda: all(
            battle_id in p.battles and p.battles[battle_id].machine.bind is not None for p in peers.values()
        ),
        timeout_s=30,
        what="DJ A's bind at every node",
    )
    bound = {name: p.battles[battle_id].machine.djs["b"] for name, p in peers.items()}
    assert len(set(bound.values())) == 1, bound  # every node names the same DJ B ...
    dj_b = next(iter(bound.values()))
    assert dj_b in keys.values()  # ... and it is one of the two takers
    winner = next(name for name, k in keys.items() if k == dj_b)
    loser = next(name for name in TAKERS if name != winner)
    for name, p in peers.items():
        view = battle_json(p, p.battles[battle_id])
        assert view["djs"]["b"] == peers[winner].node.peer_id and view["open"], name
        assert view["phase"] in (Phase.ACCEPTED.value, Phase.SETS.value), (name, view["phase"])
    assert battle_json(peers[loser], peers[loser].battles[battle_id])["role"] != "dj-b"
    with pytest.raises(NodeError, match="taken by another DJ already"):
        await methods[loser]["battle_accept"](
            peers[loser].node, {"battle_id": battle_id.hex(), "set": sets[loser]}
        )

    spec = a.battles[battle_id].machine.spec
    results = await asyncio.gather(
        *(p.wait_result(battle_id, (spec.reveal_by - now_ms()) / 1000 + 30) for p in peers.values())
    )
    missing = [name for name, r in zip(peers, results, strict=True) if r is None]
    assert not missing, f"no result at {missing}"
    assert len({(r.battle_id, r.winner, str(r.scores)) for r in results if r is not None}) == 1
    for result in results:
        assert result is not None and result.forfeit is None and result.revealed == 4
        assert result.djs == {"a": a.node.public_key, "b": dj_b}
    # only the bound taker played: one tracklist per side, DJ B's from the winner
    machine = peers["viewer-1"].battles[battle_id].machine
    assert machine.tracklists["b"].author == dj_b
    assert peers[loser].battles[battle_id].my_stream is None
    assert all(list(p.battles) == [battle_id] for p in peers.values())  # one battle, nowhere a second


def _services(battles: BattleService) -> Any:
    """What the battle commands use of a node's services, for a node without a chain."""

    def need_ledger(what: str) -> None:
        raise NodeError(f"{what} needs a chain")

    return SimpleNamespace(
        node=battles.node, battles=battles, gates=None, escrow=None, need_ledger=need_ledger
    )


def test_the_cli_refuses_an_open_challenge_with_a_prize_in_one_line(
    djmesh: CliRunner, tmp_path: Path
) -> None:
    refused = djmesh(
        "battle", "challenge", "--open", "--prize", "0.1", "--genre", "house", "--tracks", "2",
        "--set-seconds", "30", "--start-in", "60", "--set", str(tmp_path / "set.toml"),
    )  # fmt: skip
    assert refused.returncode == 2 and "Traceback" not in refused.stderr
    assert (
        len(refused.stderr.strip().splitlines()) == 1
        and "open challenge cannot have a prize" in refused.stderr
    )


def test_battle_challenge_open_through_the_cli_and_a_running_node(djmesh: CliRunner, tmp_path: Path) -> None:
    from tests.helpers.daemon import node_process

    home = tmp_path / "dj"
    wav = write_wav(tmp_path / "set.wav", 8.0, bpm=125.0)
    with node_process(djmesh, home):
        made = djmesh(
            "--home", str(home), "battle", "challenge", "--open", "--genre", "house", "--tracks", "2",
            "--set-seconds", "30", "--start-in", "120", "--set", str(wav), "--json",
        )  # fmt: skip
        assert made.returncode == 0, made.stderr
        battle_id = made.json()["battle_id"]
        shown = djmesh("--home", str(home), "battle", "show", battle_id, "--json")
        assert shown.returncode == 0, shown.stderr
        battle = shown.json()
        assert battle["open"] and battle["phase"] == "announced" and battle["takers"] == []
        assert battle["djs"]["b"] == "" and battle["names"]["b"] == "open" and not battle["can_accept"]
        own = djmesh("--home", str(home), "battle", "accept", battle_id, "--set", str(wav))
        assert (
            own.returncode == 1 and "your own open challenge" in own.stderr and "Traceback" not in own.stderr
        )
        listed = djmesh("--home", str(home), "battle", "list")
        assert listed.returncode == 0 and "vs open" in listed.stdout
