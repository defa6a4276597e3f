"""DJ B's node refuses to sign an accept after ``accept_by``, with the reason, instead of one every node ignores.

The accept counts by its signed time and its arrival (docs/PROTOCOL.md, *The accept counts by when it was
signed and when it arrived*): an announcement that reaches DJ B late leaves it nothing to accept. Real
nodes on the in-memory network and a virtual clock (node/sim/battles.py).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from djmesh.node.battle.service import DjSet
from djmesh.node.clock import run_virtual
from djmesh.node.errors import NodeError
from djmesh.node.sim.battles import SimBattle, at, sim_rules
from djmesh.protocol.battle import ARRIVAL_GRACE_MS, Phase
from tests.helpers.sets import write_wav
from tests.helpers.sim import virtual_wait_until

pytestmark = pytest.mark.timeout(300)


def test_an_accept_after_accept_by_is_refused_at_dj_bs_node_and_the_battle_is_cancelled(
    tmp_path: Path,
) -> None:
    set_a = DjSet(str(write_wav(tmp_path / "a.wav", 8.0, bpm=125.0)), ("A1", "A2"), (0, 4000))
    set_b = DjSet(str(write_wav(tmp_path / "b.wav", 8.0, bpm=131.0)), ("B1",), (0,))

    async def main() -> None:
        sim = SimBattle(tmp_path / "nodes", seed=3, viewers=())
        try:
            await sim.start()
            await sim.settle()
            a, b = sim.peers["dj-a"].battles, sim.peers["dj-b"].battles
            battle_id = await sim.peers["dj-a"].act(
                a.announce(b.node.peer_id, set_a, rules=sim_rules(), start_in_s=20, accept_s=4)
            )
            await virtual_wait_until(
                lambda: battle_id in b.battles, timeout_s=4, what="the challenge at DJ B"
            )
            spec = b.battles[battle_id].machine.spec
            await at(spec.accept_by + 1000)  # the announcement was read late: the window has closed
            assert b.battles[battle_id].machine.phase is Phase.ANNOUNCED  # still within the arrival grace
            with pytest.raises(NodeError, match="accept window closed"):
                await sim.peers["dj-b"].act(b.accept(battle_id, set_b))
            await at(spec.accept_by + ARRIVAL_GRACE_MS + 2000)
            for service in (a, b):
                machine = service.battles[battle_id].machine
                assert machine.phase is Phase.CANCELLED
                assert machine.accept is None
        finally:
            await sim.close()

    run_virtual(main())
