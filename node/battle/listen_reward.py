"""`djmesh reward claim`: after a battle's ListenGate window, a listener takes its share of the listen fees.

Each paid listen unit holds back ``reward_bps`` of its price; after ``ends_at`` any unit's owner may
claim one equal share with a zero-knowledge proof of membership (``ledger/zk``). This node sends the
claim from its own wallet into its own wallet: simple, but it links the claim to the address; a claim
through a relaying peer into a fresh address would not (not built yet).
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from web3.logs import DISCARD

from djmesh.ledger.evm.errors import TransactionFailedError
from djmesh.ledger.zk.gate import battle_tree
from djmesh.ledger.zk.prover import ProvingError, prove
from djmesh.ledger.zk.signals import Action, claim_signal, scope
from djmesh.node.battle.anonymous_votes import AnonymousVoteError, AnonymousVotes


async def claim_reward(votes: AnonymousVotes, battle_id: bytes) -> dict[str, Any]:
    """Claim this node's listen reward for ``battle_id``; ``{tx, amount_wei}``. Checks before paying gas."""
    terms = await votes.battle(battle_id)
    if terms is None:
        raise AnonymousVoteError(
            f"battle {battle_id.hex()[:12]} is not open in the ListenGate: nothing to claim"
        )
    identity = votes.identity(battle_id)  # NotRegisteredError: this node paid no listen unit here
    # the latest block may be old on a quiet dev chain; the claim's own block is mined now
    now = max(await asyncio.to_thread(votes.chain.timestamp), int(time.time()))
    if now < terms.ends_at:
        raise AnonymousVoteError(
            f"the battle's listen window ends in {terms.ends_at - now} s (chain time): claim after that"
        )
    gate = votes.gate
    claim_scope = scope(votes.chain.chain_id, gate.address, battle_id, Action.CLAIM)
    nullifier = identity.nullifier(claim_scope)
    if await asyncio.to_thread(gate.functions.nullifier_used(nullifier).call):
        raise AnonymousVoteError("this node's listen reward for the battle was claimed already")
    me = votes.address
    tree = await asyncio.to_thread(battle_tree, gate, battle_id)
    try:
        proof = await asyncio.to_thread(prove, identity, tree, claim_scope, claim_signal(me, me), votes.zkey)
    except ProvingError as exc:
        raise AnonymousVoteError(f"cannot prove the claim: {exc}") from exc
    call = gate.functions.claim(battle_id, me, proof.root, proof.nullifier, tuple(proof.proof.evm_words()))
    try:
        receipt = await asyncio.to_thread(votes.sender.transact, call)
    except TransactionFailedError as exc:
        if "battle not over" in str(exc):  # the chain's clock is behind ours
            raise AnonymousVoteError(
                "the battle's listen window has not closed on chain yet: claim after that"
            ) from exc
        raise AnonymousVoteError(f"the gate refused the claim: {exc}") from exc
    events = gate.events.Claimed().process_receipt(receipt, errors=DISCARD)
    amount = int(events[0]["args"]["amount"]) if events else 0
    return {"tx": "0x" + bytes(receipt["transactionHash"]).hex(), "amount_wei": str(amount)}
