"""The ledger chaos scenarios (bench/chaos.py, node/sim/ledger.py): prize battles on the simulated network
and a real EVM, with reorganisations and RPC failures near the payout and the refunds. No wei is ever lost:
one payout of the whole pot to the winner, or every stake back to its staker, and nothing left in escrow."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest

from djmesh.node.battle import escrow as escrow_service
from djmesh.node.battle.service import DjSet
from djmesh.node.clock import now_ms, run_virtual
from djmesh.node.sim.ledger import LEDGER_SCENARIOS, LedgerScenario, run_ledger_scenario
from tests.helpers.sets import write_wav

pytestmark = pytest.mark.timeout(300)
QUICK = {s.name for s in LEDGER_SCENARIOS if "reorganised" in s.name}


def _sets(tmp_path: Path) -> tuple[DjSet, DjSet]:
    return (
        DjSet(str(write_wav(tmp_path / "a.wav", 8.0, bpm=125.0)), ("A1", "A2"), (0, 4000)),
        DjSet(str(write_wav(tmp_path / "b.wav", 8.0, bpm=131.0)), ("B1",), (0,)),
    )


@pytest.mark.parametrize(
    "scenario",
    [s if s.name in QUICK else pytest.param(s, marks=pytest.mark.slow) for s in LEDGER_SCENARIOS],
    ids=lambda s: s.name,
)
def test_no_money_is_lost_when_the_chain_misbehaves(
    scenario: LedgerScenario, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # every escrow tick, per service: the loop sleeps until an entry read or a deadline is due, or an event
    ticks: dict[int, list[int]] = defaultdict(list)
    tick = escrow_service.BattleEscrowService._tick

    async def counted(self: Any, state: Any) -> None:
        ticks[id(self)].append(now_ms())
        await tick(self, state)

    monkeypatch.setattr(escrow_service.BattleEscrowService, "_tick", counted)
    row = run_virtual(run_ledger_scenario(scenario, 1, tmp_path / "nodes", _sets(tmp_path)))
    assert row["money_lost_wei"] == 0 and row["left_in_escrow_wei"] == 0, row
    assert max(row["faulty_calls"].values()) >= 2, row  # the fault was met, and the step asked again
    if scenario.step == "payout":
        assert row["payouts"] == 1 and row["paid_wei"] == row["staked_wei"] and row["refunds"] == 0, row
    else:
        assert row["payouts"] == 0 and row["refunds"] == 2 and row["refunded_wei"] == row["staked_wei"], row
    # the escrow loop polled every 0.5 s (two ticks a second); it now sleeps until an entry read or a
    # deadline is due or an event wakes it: about one tick a second while a step waits on the chain
    for times in ticks.values():
        span_s = (times[-1] - times[0]) / 1000
        assert len(times) < 1.5 * span_s + 5, (len(times), span_s)
