"""A node judges only battles whose rules name the judge it runs: its model and the code that reads the audio."""

from __future__ import annotations

import hashlib
import logging
import time
from pathlib import Path

import pytest

from djmesh.judge.pin import JUDGE_PIN
from djmesh.node.battle.service import BattleService
from djmesh.node.battle.view import battle_json
from djmesh.node.control import METHODS
from djmesh.node.errors import NodeError
from djmesh.node.live.service import LiveService
from djmesh.protocol.battle import BattleJoin
from djmesh.tui.battle_json import battle_view
from djmesh.tui.widgets.consensus import consensus_text
from tests.helpers.network import bootstrap_server, make_node
from tests.protocol.battle_helpers import Battle, key

pytestmark = pytest.mark.timeout(120)

#: what a release whose analysis reads audio differently would name (same model file, other reading)
OTHER_RELEASE = hashlib.sha256(b"djmesh judge of another release").digest()


async def test_a_battle_naming_another_judge_is_not_joined_and_a_join_says_why(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    now = int(time.time() * 1000)
    ours = Battle(dj_a=key(7001), dj_b=key(8001), t0=now)
    theirs = Battle(dj_a=key(7002), dj_b=key(8002), t0=now + 1, model=OTHER_RELEASE)
    assert ours.spec.rules.model == JUDGE_PIN
    async with bootstrap_server() as boot:
        node = make_node(tmp_path, "viewer", boot)
        async with node:
            node.store.add_many([ours.announce, theirs.announce])
        caplog.set_level(logging.INFO, logger="djmesh.node.battle.service")
        async with node, LiveService(node) as live, BattleService(node, live, auto_join=True) as battles:
            assert {ours.id, theirs.id} <= set(battles.battles), "both are followed: a viewer still watches"
            joined = {
                j.envelope.message.battle
                for j in node.store.query(author=node.public_key, kind=BattleJoin.KIND, limit=10)
            }
            assert joined == {ours.id}
            assert f"names judge {OTHER_RELEASE.hex()[:12]}" in caplog.text and "not joined" in caplog.text
            with pytest.raises(NodeError, match="another djmesh release"):
                await battles.join(theirs.id)
            assert battles.foreign_judge(ours.id) is None
            # what a script or the TUI reads: which judge each battle names, and whether this node can judge it
            views = {b: battle_json(battles, battles.battles[b]) for b in (ours.id, theirs.id)}
            assert views[ours.id]["judge"] == JUDGE_PIN.hex() and views[ours.id]["can_judge"] is True
            assert views[theirs.id]["judge"] == OTHER_RELEASE.hex() and views[theirs.id]["can_judge"] is False
            assert (await METHODS["status"](node, {}))["judge"] == JUDGE_PIN.hex()
            # and what the TUI draws from the same view
            shown = {b: consensus_text(battle_view(view, now_ms=now)).plain for b, view in views.items()}
            assert "this node does not judge it" in shown[theirs.id]
            assert "this node does not judge it" not in shown[ours.id]
            joined_after = node.store.query(author=node.public_key, kind=BattleJoin.KIND, limit=10)
            assert {j.envelope.message.battle for j in joined_after} == {ours.id}
