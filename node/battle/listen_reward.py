"""`djmesh reward claim`: after a battle's ListenGate window, a listener takes its share of the listen fees.

Each paid listen unit holds back ``reward_bps`` of its price; after ``ends_at`` any unit's owner may
claim one equal share with a zero-knowledge proof of membership (``ledger/zk``).

What the chain shows: the claim is a transaction sent (and its gas paid) by this node's wallet, the
same wallet that paid the listen unit. So anyone can see that this wallet claimed a reward for the
battle. What stays hidden is which vote was this node's: the claim's nullifier and the vote's are
derived for different scopes, and nothing links them without the node's secret. By default the
reward goes to the same wallet; ``to`` (`djmesh reward claim --to ADDRESS`) sends it to another
address, which keeps the money apart from the wallet but does NOT unlink the claim, as the sender is
still this wallet. A claim that does not show the paying wallet needs a sender with no tie to it
(a relaying peer, as votes have; not built for claims yet).
"""

from __future__ import annotations

import asyncio
from typing import Any

from web3.logs import DISCARD

from djmesh.ledger.evm.errors import TransactionFailedError
from djmesh.ledger.zk.gate import battle_tree
from djmesh.ledger.zk.prover import ProvingError, prove
from djmesh.ledger.zk.signals import Action, claim_signal, scope
from djmesh.node.battle.anonymous_votes import AnonymousVoteError, AnonymousVotes
from djmesh.node.clock import now_s


async def claim_reward(votes: AnonymousVotes, battle_id: bytes, to: str | None = None) -> dict[str, Any]:
    """Claim this node's listen reward for ``battle_id`` into ``to`` (default: this node's wallet);
    ``{tx, amount_wei, to}``. Checks before paying gas."""
    recipient = _recipient(to, votes.address)
    terms = await votes.battle(battle_id)
    if terms is None:
        raise AnonymousVoteError(
            f"battle {battle_id.hex()[:12]} is not open in the ListenGate: nothing to claim"
        )
    identity = votes.identity(battle_id)  # NotRegisteredError: this node paid no listen unit here
    # the latest block may be old on a quiet dev chain; the claim's own block is mined now
    now = max(await asyncio.to_thread(votes.chain.timestamp), int(now_s()))
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
    signal = claim_signal(recipient, me)  # the proof binds who is paid and who sends: nobody can redirect it
    try:
        proof = await asyncio.to_thread(prove, identity, tree, claim_scope, signal, votes.zkey)
    except ProvingError as exc:
        raise AnonymousVoteError(f"cannot prove the claim: {exc}") from exc
    call = gate.functions.claim(
        battle_id, recipient, proof.root, proof.nullifier, tuple(proof.proof.evm_words())
    )
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
    return {"tx": "0x" + bytes(receipt["transactionHash"]).hex(), "amount_wei": str(amount), "to": recipient}


def _recipient(to: str | None, own: str) -> str:
    """``to`` as a checksummed EVM address (default ``own``); a clear error when it is not one."""
    from eth_utils.address import is_address, to_checksum_address

    if to is None:
        return own
    if not is_address(to) or int(to, 16) == 0:
        raise AnonymousVoteError(f"--to {to!r} is not an EVM address (0x and 40 hex digits, not zero)")
    return str(to_checksum_address(to))
