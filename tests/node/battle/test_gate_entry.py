"""The DJs' nodes open a battle's ListenGate entry with both signatures (ListenGate on py-evm).

DJ B's node signs the gate terms it derives from the announcement and carries the signature in its
accept; DJ A's node, once it holds that accept, signs too and submits. An accept carrying someone
else's signature opens nothing, and a gate deployed with an escrow gives a battle without a prize no
entry, which a vote says in one line.
"""

from __future__ import annotations

import asyncio
import hashlib
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from eth_account import Account

from djmesh.ledger.evm import EvmChain, TxSender
from djmesh.ledger.zk.gate import deploy_gate, gate_domain, sign_gate_battle
from djmesh.node.battle.anonymous_votes import AnonymousVoteError, AnonymousVotes
from djmesh.node.battle.gate_entry import LISTEN_REWARD_BPS, LISTEN_UNIT_WEI, GateEntries
from djmesh.protocol.battle import (
    BattleAccept,
    BattleAnnounce,
    BattleMachine,
    EscrowTerms,
    Phase,
    PhaseChanged,
    Received,
    Rules,
)
from djmesh.protocol.envelope import SignedEnvelope, sign
from tests.helpers.network import PATIENCE, make_node
from tests.protocol.battle_helpers import MODEL, key

pytestmark = pytest.mark.timeout(120)

DJ_A, DJ_B = key(1), key(2)


def _announce(chain: EvmChain, dj_a: str, dj_b: str, *, title: str, prize: bool) -> SignedEnvelope:
    """A challenge starting in a minute; with ``prize``, escrow terms naming the DJs' addresses."""
    now_ms = chain.timestamp() * 1000
    escrow = EscrowTerms(
        chain.chain_id, b"\x0e" * 20, bytes.fromhex(dj_a[2:]), bytes.fromhex(dj_b[2:]), now_ms // 1000 + 7200
    )
    spec = BattleAnnounce(
        opponent=bytes(DJ_B.verify_key),
        rules=Rules.for_genre("house", model=MODEL, crowd_weight_permille=200),
        accept_by=now_ms + 30_000,
        join_by=now_ms + 40_000,
        start_at=now_ms + 60_000,
        title=title,
        escrow=escrow if prize else None,
    )
    return sign(spec, DJ_A, created_at_ms=now_ms)


def _battles(signing_key: Any, *announces: SignedEnvelope) -> Any:
    """What GateEntries reads of a node's BattleService: its battles, listeners and public key."""
    battles = {a.content_id: SimpleNamespace(machine=BattleMachine(announce=a)) for a in announces}
    node = SimpleNamespace(public_key=bytes(signing_key.verify_key))
    return SimpleNamespace(battles=battles, listeners=[], node=node)


def _accept(announce: SignedEnvelope, gate_signature: bytes) -> SignedEnvelope:
    accept = BattleAccept(battle=announce.content_id, seed_commit=b"\1" * 32, gate_signature=gate_signature)
    return sign(accept, DJ_B, created_at_ms=announce.created_at_ms + 1000)


async def test_dj_a_node_opens_the_entry_once_dj_b_accept_carries_its_signature(tmp_path: Path) -> None:
    chain = EvmChain.in_process()
    wallet_a, wallet_b, stranger = (Account.from_key(k) for k in chain.dev_keys[1:4])
    gate = deploy_gate(TxSender(chain, Account.from_key(chain.dev_keys[0])))
    honest = _announce(chain, wallet_a.address, wallet_b.address, title="honest", prize=True)
    forged = _announce(chain, wallet_a.address, wallet_b.address, title="forged", prize=True)
    async with make_node(tmp_path, "n", []) as node:
        votes_a = AnonymousVotes(node, chain, TxSender(chain, wallet_a), gate, relay=False)
        votes_b = AnonymousVotes(node, chain, TxSender(chain, wallet_b), gate, relay=False)
        battles_a, battles_b = _battles(DJ_A, honest, forged), _battles(DJ_B, honest, forged)
        async with GateEntries(battles_a, votes_a) as gates_a, GateEntries(battles_b, votes_b) as gates_b:
            # An accept whose gate signature is a stranger's (over the same terms) opens nothing.
            spec = forged.message
            assert isinstance(spec, BattleAnnounce)
            domain = gate_domain(chain.chain_id, gate)
            djs = [wallet_a.address, wallet_b.address]
            ends_at = spec.sets_end // 1000
            not_b = sign_gate_battle(
                bytes(stranger.key),
                domain,
                forged.content_id,
                djs,
                LISTEN_UNIT_WEI,
                LISTEN_REWARD_BPS,
                ends_at,
            ).to_bytes()
            battles_a.battles[forged.content_id].machine.handle(Received(_accept(forged, not_b)), 0)
            with pytest.raises(AnonymousVoteError, match="the gate refused"):
                await gates_a.open(forged.content_id)
            assert await votes_a.battle(forged.content_id) is None

            # DJ B's node signs when it accepts; DJ A's node opens the entry when the accept arrives.
            signature = await gates_b.sign_for_accept(honest.content_id)
            machine = battles_a.battles[honest.content_id].machine
            machine.handle(Received(_accept(honest, signature)), 0)
            assert machine.phase is Phase.ACCEPTED
            for listener in battles_a.listeners:
                listener(honest.content_id, PhaseChanged(Phase.ACCEPTED))
            terms = None
            for _ in range(int(60 * PATIENCE)):  # the submission is DJ A's node's background task
                if (terms := await votes_a.battle(honest.content_id)) is not None:
                    break
                await asyncio.sleep(0.5)
            assert terms is not None, "DJ A's node did not open the gate entry"
            assert terms.djs == (wallet_a.address, wallet_b.address)  # choice 0 is DJ A
            assert (terms.price_wei, terms.reward_bps) == (LISTEN_UNIT_WEI, LISTEN_REWARD_BPS)
            assert terms.ends_at == honest.message.sets_end // 1000  # type: ignore[attr-defined]
            assert await gates_a.open(honest.content_id) is None  # a replayed accept opens nothing twice


async def test_an_escrow_gate_gives_a_battle_without_a_prize_no_entry_and_a_vote_says_so(
    tmp_path: Path,
) -> None:
    chain = EvmChain.in_process()
    wallet_a, wallet_b = (Account.from_key(k) for k in chain.dev_keys[1:3])
    escrow = Account.from_key(hashlib.sha256(b"escrow").digest()).address  # any address: never called
    gate = deploy_gate(TxSender(chain, Account.from_key(chain.dev_keys[0])), escrow=escrow)
    plain = _announce(chain, wallet_a.address, wallet_b.address, title="no prize", prize=False)
    async with make_node(tmp_path, "n", []) as node:
        votes_b = AnonymousVotes(node, chain, TxSender(chain, wallet_b), gate, relay=False, entry_wait_s=0)
        async with GateEntries(_battles(DJ_B, plain), votes_b) as gates_b:
            assert await gates_b.sign_for_accept(plain.content_id) == b""
        node.store.add(plain)
        with pytest.raises(AnonymousVoteError, match=r"has no prize escrow.*takes no votes"):
            await votes_b.register(plain.content_id)
