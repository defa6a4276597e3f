"""BattleService between real nodes on loopback: the committee judges, commits, reveals and publishes.

Two DJs and four viewers (the committee: 3f+1 = 4). Members reveal as soon as they hold every
member's commit, so the result stands long before the commit deadline the rules set.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from pathlib import Path

import pytest

from djmesh.node.battle.service import BattleService, DjSet
from djmesh.node.live.service import LiveService
from djmesh.protocol.battle import BATTLES_TOPIC, Finished, Rules
from tests.helpers.network import PATIENCE, bootstrap_server, make_node, wait_until
from tests.helpers.sets import write_wav

VIEWERS = ("viewer-1", "viewer-2", "viewer-3", "viewer-4")
#: long enough that judging 10 s sets fits many times over on a busy machine
COMMIT_SECONDS = int(60 * PATIENCE)

pytestmark = pytest.mark.timeout(120 + COMMIT_SECONDS)


def now_ms() -> int:
    return time.time_ns() // 1_000_000


async def test_the_result_stands_before_the_commit_deadline(tmp_path: Path) -> None:
    from djmesh.judge import MODEL_SHA256

    async with bootstrap_server() as boot, contextlib.AsyncExitStack() as stack:
        peers: dict[str, BattleService] = {}
        for name in ("dj-a", "dj-b", *VIEWERS):
            node = await stack.enter_async_context(make_node(tmp_path, name, boot))
            live = await stack.enter_async_context(LiveService(node))
            peers[name] = await stack.enter_async_context(
                BattleService(node, live, auto_join=name in VIEWERS)
            )
        await wait_until(
            lambda: all(p.node.host.mesh_peers(BATTLES_TOPIC) for p in peers.values()),
            what="the battles mesh",
        )
        finished_at: dict[str, int] = {}
        for name, service in peers.items():
            service.listeners.append(
                lambda _battle, action, name=name: (
                    finished_at.setdefault(name, now_ms()) if isinstance(action, Finished) else None
                )
            )
        a, b = peers["dj-a"], peers["dj-b"]
        set_a = DjSet(str(write_wav(tmp_path / "a.wav", 8.0, bpm=125.0)), ("A1", "A2"), (0, 4000))
        set_b = DjSet(str(write_wav(tmp_path / "b.wav", 8.0, bpm=131.0)), ("B1",), (0,))
        rules = Rules.for_genre(
            "house",
            tracks=2,
            set_seconds=10,
            committee_size=4,
            mode="simultaneous",
            model=bytes.fromhex(MODEL_SHA256),
        )
        battle_id = await a.announce(
            b.node.peer_id,
            set_a,
            rules=rules,
            # room for the accept and the joins to travel on a loaded machine (two test workers)
            start_in_s=20,
            accept_s=12,
            commit_seconds=COMMIT_SECONDS,
            reveal_seconds=30,
        )
        await wait_until(lambda: battle_id in b.battles, what="the announcement at DJ B")
        await b.accept(battle_id, set_b)
        spec = a.battles[battle_id].machine.spec

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
        from djmesh.node.battle.view import battle_json

        views = [battle_json(peers[name], peers[name].battles[battle_id]) for name in VIEWERS]
        assert all(view["findings"] == views[0]["findings"] for view in views)
        findings = views[0]["findings"]
        assert set(findings) == {"a", "b"} and findings["b"], findings
        for finding in findings["a"] + findings["b"]:
            assert set(finding) == {"at_s", "criterion", "text"}
            assert 0 <= finding["at_s"] <= rules.set_seconds and finding["text"], finding
