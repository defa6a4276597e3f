"""The crowd's votes reach a judge only from a gate entry that belongs to the battle (ListenGate on py-evm).

A gate without an escrow takes any terms both DJs sign, whoever submits them. An entry with the DJs
swapped (votes for B counted for A) or a window that stays open after the sets (a tally the judges
could read differently) counts as no votes. (A tally that does count: tests/node/test_user_battle.py.)
"""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from eth_account import Account

from djmesh.ledger.evm import EvmChain, TxSender
from djmesh.ledger.zk.gate import deploy_gate, gate_domain, sign_gate_battle
from djmesh.node.battle.anonymous_votes import AnonymousVotes
from djmesh.node.battle.crowd import CrowdTally
from djmesh.protocol.battle import EscrowTerms
from tests.helpers.network import make_node

pytestmark = pytest.mark.timeout(120)


def _machine(battle_id: bytes, dj_a: str, dj_b: str, sets_end_ms: int) -> Any:
    """What CrowdTally reads of a battle: its ID, escrow terms (the DJs' addresses) and sets_end."""
    escrow = EscrowTerms(1, bytes(20), bytes.fromhex(dj_a[2:]), bytes.fromhex(dj_b[2:]), 0)
    return SimpleNamespace(
        battle_id=battle_id, spec=SimpleNamespace(escrow=escrow, sets_end=sets_end_ms), djs={}
    )


async def test_squatted_or_open_ended_gate_entries_count_as_no_votes(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="djmesh.node.battle.crowd")
    chain = EvmChain.in_process()
    squatter = TxSender(chain, Account.from_key(chain.dev_keys[0]))
    gate = deploy_gate(squatter)
    keys_of = {Account.from_key(k).address: k for k in chain.dev_keys[1:3]}
    dj_a, dj_b = keys_of
    now = chain.timestamp()
    async with make_node(tmp_path, "judge", []) as node:
        votes = AnonymousVotes(node, chain, squatter, gate, relay=False)
        tally = CrowdTally(votes)
        swapped, open_ended, unopened = (hashlib.sha256(n).digest() for n in (b"s", b"o", b"u"))
        domain = gate_domain(chain.chain_id, gate)
        for battle_id, djs, ends_at in (
            (swapped, [dj_b, dj_a], now + 60),
            (open_ended, [dj_a, dj_b], now + 3600),
        ):
            keys = [keys_of[dj] for dj in djs]
            signatures = [sign_gate_battle(k, domain, battle_id, djs, 10**15, 0, ends_at) for k in keys]
            await votes.create_battle(
                battle_id, djs, price_wei=10**15, ends_at=ends_at, signatures=signatures
            )
        sets_end_ms = (now + 60) * 1000
        assert await tally(_machine(swapped, dj_a, dj_b, sets_end_ms)) == (0, 0)
        assert "does not name the battle's DJs in order" in caplog.text
        assert await tally(_machine(open_ended, dj_a, dj_b, sets_end_ms)) == (0, 0)
        assert "voting runs past the sets" in caplog.text
        assert await tally(_machine(unopened, dj_a, dj_b, sets_end_ms)) == (0, 0)
        assert "crowd votes a" not in caplog.text  # no tally was read from any of them
