"""Anyone can announce battles: a flood of announcements is bounded in memory and in the joins it makes us send."""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import pytest
from eth_account import Account

from djmesh.ledger.evm import EvmChain, TxSender, deploy_contracts
from djmesh.node.battle import escrow as escrow_service
from djmesh.node.battle import service as battle_service
from djmesh.node.battle.escrow import BattleEscrowService
from djmesh.node.battle.service import AUTO_JOIN_BUDGET, BattleService
from djmesh.node.live.service import LiveService
from djmesh.protocol.battle import BattleJoin, EscrowTerms, battle_topic
from djmesh.protocol.envelope import sign
from tests.helpers.network import bootstrap_server, make_node, wait_until
from tests.protocol.battle_helpers import Battle, key

pytestmark = pytest.mark.timeout(240)


async def test_an_announcement_flood_is_bounded_and_joins_stay_within_the_budget(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(battle_service, "MAX_OPEN_BATTLES", 12)
    now = int(time.time() * 1000)
    # long over (reveal deadline passed, no result): never in the way of new battles
    stale = [Battle(dj_a=key(5000 + i), dj_b=key(6000 + i), t0=now - 3_600_000 + i) for i in range(6)]
    # announced by Sybils, joinable now
    flood = [Battle(dj_a=key(7000 + i), dj_b=key(8000 + i), t0=now + i) for i in range(30)]
    async with bootstrap_server() as boot:
        node = make_node(tmp_path, "viewer", boot)
        async with node:
            node.store.add_many([b.announce for b in stale + flood])
            challenger = key(9000)
            # a battle this node is a DJ of is followed whatever the flood
            own = Battle(dj_a=challenger, dj_b=node.identity.signing_key, t0=now + 100)
            node.store.add(sign(own.spec, challenger, created_at_ms=own.t0))
        async with node, LiveService(node) as live, BattleService(node, live, auto_join=True) as battles:
            followed = set(battles.battles)
            assert own.id in followed
            flood_followed = [b for b in flood if b.id in followed]
            assert len(flood_followed) == 12, "stale battles must not hold the room new ones need"
            assert flood_followed == flood[:12], "the earliest announced are followed; later ones are logged"
            joins = node.store.query(author=node.public_key, kind=BattleJoin.KIND, limit=100)
            assert 0 < len({j.envelope.message.battle for j in joins}) <= AUTO_JOIN_BUDGET.burst


async def test_forgotten_battles_leave_their_topics(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A finished battle forgotten to make room takes its gossip topic (and the task consuming it) along."""
    monkeypatch.setattr(battle_service, "MAX_FINISHED_BATTLES", 1)
    now = int(time.time() * 1000)
    async with bootstrap_server() as boot:
        node = make_node(tmp_path, "dj-b", boot)
        async with node:
            # long over, never accepted: this node was DJ B, so it joined their topics; they end cancelled
            old = [
                Battle(dj_a=key(100 + i), dj_b=node.identity.signing_key, t0=now - 3_600_000 + i)
                for i in range(3)
            ]
            node.store.add_many([sign(b.spec, key(100 + i), created_at_ms=b.t0) for i, b in enumerate(old)])
            later = [Battle(dj_a=key(7000 + i), dj_b=key(8000 + i), t0=now + i) for i in range(3)]
            node.store.add_many([b.announce for b in later])
        async with node, LiveService(node) as live, BattleService(node, live, auto_join=False) as battles:
            await wait_until(lambda: all(b.id in battles.battles for b in later), what="the later battles")
            forgotten = [b for b in old if b.id not in battles.battles]
            assert len(forgotten) >= 2
            await wait_until(
                lambda: not any(battle_topic(b.id) in node._topics for b in forgotten),
                what="the forgotten battles' topics left",
            )


async def test_an_escrow_announcement_flood_is_bounded_and_our_own_battle_stays(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Announcing an escrow battle that names our chain costs a Sybil nothing: the escrow service follows a
    bounded number, forgetting others' battles first and never one we stake in."""
    monkeypatch.setattr(escrow_service, "MAX_ESCROW_BATTLES", 8)
    chain = EvmChain.in_process()
    contracts = deploy_contracts(TxSender(chain, Account.from_key(chain.dev_keys[0])))
    ours = TxSender(chain, Account.from_key(chain.dev_keys[1]))
    now = int(time.time() * 1000)

    def escrow_battle(n: int, dj_a_address: bytes) -> Battle:
        battle = Battle(dj_a=key(7000 + n), dj_b=key(8000 + n), t0=now + n)
        terms = EscrowTerms(
            chain_id=chain.chain_id,
            contract=bytes.fromhex(contracts.escrow[2:]),
            dj_a=dj_a_address,
            dj_b=(10**6 + n).to_bytes(20, "big"),
            deadline=now // 1000 + 3600,
        )
        battle.spec = dataclasses.replace(battle.spec, escrow=terms)
        battle.announce = sign(battle.spec, battle.dj_a, created_at_ms=battle.t0)
        return battle

    own = escrow_battle(0, bytes.fromhex(ours.address[2:]))  # we are its DJ A: we hold a stake in it
    flood = [escrow_battle(1 + i, (1 + i).to_bytes(20, "big")) for i in range(40)]
    async with bootstrap_server() as boot:
        node = make_node(tmp_path, "viewer", boot)
        async with node:
            node.store.add_many([own.announce] + [b.announce for b in flood])
        async with (
            node,
            LiveService(node) as live,
            BattleService(node, live) as battles,
            BattleEscrowService(node, battles, chain, ours, contracts.escrow) as escrow,
        ):
            assert len(escrow.states) <= 8
            assert own.announce.content_id in escrow.states
            assert escrow.states[own.announce.content_id].involved
