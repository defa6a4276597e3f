"""BattleService between real nodes: the committee judges, commits, reveals and publishes.

Two DJs and six viewers on the in-memory network and a virtual clock (node/sim/battles.py), deterministic
from the seed; the committee is 4 (3f+1). Members reveal as soon as they hold every member's commit, so the
result stands long before the commit deadline the rules set. Nothing checked here depends on the transport;
whole battles over real libp2p stay covered by tests/node/battle/test_secrets.py (a member restarted
between commit and reveal), tests/node/battle/test_escrow.py and tests/node/test_user_battle.py (real
processes).
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from djmesh.node.battle.service import DjSet
from djmesh.node.battle.view import battle_json
from djmesh.node.clock import now_ms, run_virtual
from djmesh.node.sim.battles import SimBattle, sim_rules
from djmesh.protocol.battle import Finished
from tests.helpers.sets import write_wav

pytestmark = pytest.mark.timeout(300)


def test_the_result_stands_before_the_commit_deadline(tmp_path: Path) -> None:
    set_a = DjSet(str(write_wav(tmp_path / "a.wav", 8.0, bpm=125.0)), ("A1", "A2"), (0, 4000))
    set_b = DjSet(str(write_wav(tmp_path / "b.wav", 8.0, bpm=131.0)), ("B1",), (0,))
    rules = sim_rules()

    async def main() -> None:
        sim = SimBattle(tmp_path / "nodes", seed=1)
        try:
            await sim.start()
            await sim.settle()
            await play_and_check(sim)
        finally:
            await sim.close()

    async def play_and_check(sim: SimBattle) -> None:
        peers = {name: peer.battles for name, peer in sim.peers.items()}
        finished_at: dict[str, int] = {}
        for name, service in peers.items():
            service.listeners.append(
                lambda _battle, action, name=name: (
                    finished_at.setdefault(name, now_ms()) if isinstance(action, Finished) else None
                )
            )
        spec = await sim.battle(set_a, set_b, rules)
        battle_id = sim.battle_id

        # wait no longer than the commit deadline: a result after it would be the slow path
        results = await asyncio.gather(
            *(p.wait_result(battle_id, (spec.commit_by - now_ms()) / 1000) for p in peers.values())
        )
        missing = [name for name, r in zip(peers, results, strict=True) if r is None]
        assert not missing, f"no result before the commit deadline at {missing}"
        for name, result in zip(peers, results, strict=True):
            assert result is not None
            assert result.forfeit is None and result.revealed == 4, name
            assert result.offences == (), (name, result.offences)
            assert result.published_at_ms < spec.commit_by
            assert finished_at[name] < spec.commit_by
        assert len({(r.winner, str(r.scores)) for r in results if r is not None}) == 1
        # every reveal was signed before commit_by, and after the last member committed
        machine = peers["viewer-1"].battles[battle_id].machine
        last_commit = max(c.created_at_ms for c in machine.commits)
        assert len(machine.reveals) == 4
        assert all(last_commit <= r.created_at_ms < spec.commit_by for r in machine.reveals)
        # every member's judge heard the same signed bytes, so it tells the DJs the same findings, in the
        # battle's JSON (B played one track where the rules ask for two: its set has at least that finding)
        members = sim.member_names()
        assert len(members) == 4, members
        views = [battle_json(peers[name], peers[name].battles[battle_id]) for name in members]
        assert all(view["findings"] == views[0]["findings"] for view in views)
        findings = views[0]["findings"]
        assert set(findings) == {"a", "b"} and findings["b"], findings
        for finding in findings["a"] + findings["b"]:
            assert set(finding) == {"at_s", "criterion", "text"}
            assert 0 <= finding["at_s"] <= rules.set_seconds and finding["text"], finding
        # each member tells when, after the sets' end, it judged, committed and held the result, in order
        for view in views:
            steps = view["timeline"]
            assert 0 <= steps["judged"] <= steps["committed"] <= steps["result"], steps
            # the judge was loaded while the sets played, so the verdict after them is not a cold start
            assert steps["judge_warm"] < 0, steps
            assert steps["result"] * 1000 < spec.commit_by - spec.sets_end, steps

    run_virtual(main())
