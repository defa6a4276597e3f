"""ListenGate on a real EVM (py-evm): registration builds the same tree as Python, and only a valid,
unused, correctly bound listen proof counts a vote or pays a reward."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from eth_account import Account
from eth_utils.exceptions import ValidationError
from web3.exceptions import Web3RPCError

from djmesh.ledger.zk import groth16
from djmesh.ledger.zk.gate import battle_tree, deploy, prove_claim, prove_vote
from djmesh.ledger.zk.grain import FIELD_MODULUS
from djmesh.ledger.zk.identity import Identity
from djmesh.ledger.zk.merkle import MerkleTree
from djmesh.ledger.zk.params import VERIFICATION_KEY_PATH
from djmesh.ledger.zk.prover import ListenProof, ProvingError, prove
from djmesh.ledger.zk.signals import Action, scope
from tests.ledger.zk.conftest import PRICE, REWARD_BPS, Battle, Chain

RELAYER = 8


def _vote(chain: Chain, battle: Battle, proof: ListenProof, choice: int) -> Any:
    return chain.gate.functions.vote(
        battle.battle_id, choice, proof.root, proof.nullifier, proof.proof.evm_words()
    )


@pytest.fixture(scope="module")
def battle(chain: Chain) -> Battle:
    return chain.open_battle(listeners=5)


def test_contract_tree_matches_python_tree(chain: Chain, battle: Battle) -> None:
    assert chain.gate.functions.empty_root().call() == battle.tree.__class__().root
    assert chain.gate.functions.is_known_root(battle.battle_id, battle.tree.root).call()
    assert battle_tree(chain.gate, battle.battle_id).root == battle.tree.root
    logs = chain.gate.events.Registered.get_logs(
        from_block=0, argument_filters={"battle_id": battle.battle_id}
    )
    assert [log["args"]["commitment"] for log in logs] == [i.commitment for i in battle.identities]


def test_scope_matches_contract(chain: Chain, battle: Battle) -> None:
    for action in Action:
        expected = scope(chain.w3.eth.chain_id, chain.gate.address, battle.battle_id, action)
        assert chain.gate.functions.scope(battle.battle_id, int(action)).call() == expected


def test_registration_refuses_bad_payment_and_bad_commitments(chain: Chain, battle: Battle) -> None:
    register = chain.gate.functions.register
    payer = chain.accounts[3]
    chain.refused(register(battle.battle_id, 12345, PRICE), payer, "wrong payment", value=PRICE - 1)
    chain.refused(register(battle.battle_id, FIELD_MODULUS, PRICE), payer, "not a field element", value=PRICE)
    chain.refused(register(b"\xee" * 32, 12345, PRICE), payer, "no such battle", value=PRICE)
    # whoever created the battle ID set its price: a listener never pays more than it agreed to
    chain.refused(register(battle.battle_id, 12345, PRICE - 1), payer, "price above the maximum", value=PRICE)


def test_vote_counts_once_and_is_bound_to_choice_and_relayer(chain: Chain, battle: Battle) -> None:
    relayer, other_relayer = chain.accounts[RELAYER], chain.accounts[RELAYER + 1]
    voter = battle.identities[2]
    proof = prove_vote(chain.gate, voter, battle.battle_id, 1, relayer, battle.tree)
    # The relayer cannot change the vote, and nobody else can send this proof.
    chain.refused(_vote(chain, battle, proof, 0), relayer, "invalid proof")
    chain.refused(_vote(chain, battle, proof, 1), other_relayer, "invalid proof")
    before = [chain.gate.functions.tally(battle.battle_id, c).call() for c in (0, 1)]

    receipt = chain.send(_vote(chain, battle, proof, 1), relayer)
    event = chain.gate.events.Voted().process_receipt(receipt)[0]["args"]
    assert (event["choice"], event["nullifier"], event["relayer"]) == (
        1,
        voter.nullifier(proof.scope),
        relayer,
    )
    after = [chain.gate.functions.tally(battle.battle_id, c).call() for c in (0, 1)]
    assert after == [before[0], before[1] + 1]

    # Double vote: a fresh proof from the same identity carries the same nullifier.
    again = prove_vote(chain.gate, voter, battle.battle_id, 0, relayer, battle.tree)
    assert again.nullifier == proof.nullifier
    chain.refused(_vote(chain, battle, again, 0), relayer, "nullifier already used")
    # The nullifier plus the field modulus would pass a naive "unused" check; the verifier refuses it.
    shifted = ListenProof(
        proof.root, proof.nullifier + FIELD_MODULUS, proof.scope, proof.signal_hash, proof.proof
    )
    chain.refused(_vote(chain, battle, shifted, 1), relayer, "invalid proof")
    assert [chain.gate.functions.tally(battle.battle_id, c).call() for c in (0, 1)] == after


def test_replayed_vote_transaction_is_refused(chain: Chain, battle: Battle) -> None:
    relayer_index = RELAYER
    relayer = chain.accounts[relayer_index]
    proof = prove_vote(chain.gate, battle.identities[3], battle.battle_id, 0, relayer, battle.tree)
    tx = _vote(chain, battle, proof, 0).build_transaction(
        {"from": relayer, "gas": 2_000_000, "nonce": chain.w3.eth.get_transaction_count(relayer)}
    )
    raw = Account.sign_transaction(tx, chain.private_key(relayer_index)).raw_transaction
    first = chain.w3.eth.send_raw_transaction(raw)
    assert chain.w3.eth.get_transaction_receipt(first)["status"] == 1
    tally = chain.gate.functions.tally(battle.battle_id, 0).call()
    # The same signed bytes again: refused by the chain (nonce), before any contract code runs.
    with pytest.raises((Web3RPCError, ValidationError), match="nonce"):
        chain.w3.eth.send_raw_transaction(raw)
    # The same call in a new transaction: refused by the contract (nullifier spent).
    chain.refused(_vote(chain, battle, proof, 0), relayer, "nullifier already used")
    assert chain.gate.functions.tally(battle.battle_id, 0).call() == tally


def test_tampered_proofs_are_refused(chain: Chain, battle: Battle) -> None:
    relayer = chain.accounts[RELAYER]
    proof = prove_vote(chain.gate, battle.identities[0], battle.battle_id, 0, relayer, battle.tree)
    key = groth16.VerifyingKey.load(VERIFICATION_KEY_PATH)
    assert groth16.verify(key, proof.public_inputs, proof.proof)  # independent py_ecc check agrees
    words = proof.proof.evm_words()
    # A point moved off the curve, and a valid curve point that is simply the wrong one (A negated).
    off_curve = [words[0], (words[1] + 1), *words[2:]]
    wrong_point = [words[0], groth16.BASE_FIELD - words[1], *words[2:]]
    swapped_b = [*words[:2], words[3], words[2], words[5], words[4], *words[6:]]
    for tampered in (off_curve, wrong_point, swapped_b):
        call = chain.gate.functions.vote(battle.battle_id, 0, proof.root, proof.nullifier, tampered)
        chain.refused(call, relayer, "invalid proof")
    assert not groth16.verify(key, proof.public_inputs, groth16.Proof.from_evm_words(wrong_point))
    # A root the contract never computed is refused before any pairing.
    call = chain.gate.functions.vote(battle.battle_id, 0, proof.root + 1, proof.nullifier, words)
    chain.refused(call, relayer, "unknown root")
    # The untampered proof still works: the refusals above spent nothing.
    chain.send(_vote(chain, battle, proof, 0), relayer)


def test_proof_for_one_battle_does_not_vote_in_another(chain: Chain, battle: Battle) -> None:
    relayer = chain.accounts[RELAYER]
    other = chain.open_battle(listeners=1)
    # Register the same identity in the other battle too (a user reusing secrets).
    reused = battle.identities[4]
    chain.send(
        chain.gate.functions.register(other.battle_id, reused.commitment, PRICE),
        chain.accounts[4],
        value=PRICE,
    )
    other.tree.append(reused.commitment)
    proof = prove_vote(chain.gate, reused, battle.battle_id, 1, relayer, battle.tree)
    call = chain.gate.functions.vote(
        other.battle_id, 1, other.tree.root, proof.nullifier, proof.proof.evm_words()
    )
    chain.refused(call, relayer, "invalid proof")
    own = prove_vote(chain.gate, reused, other.battle_id, 1, relayer, other.tree)
    assert own.nullifier != proof.nullifier  # nullifiers are per battle: voting here does not burn the other
    chain.send(_vote(chain, other, own, 1), relayer)


def test_outsider_cannot_prove(chain: Chain, battle: Battle) -> None:
    with pytest.raises(ProvingError, match="not in the tree"):
        prove_vote(chain.gate, Identity.generate(), battle.battle_id, 0, chain.accounts[RELAYER], battle.tree)


def test_rewards_and_dj_shares_after_the_battle(chain: Chain) -> None:
    battle = chain.open_battle(listeners=2, duration_s=600)
    relayer, recipient = chain.accounts[RELAYER], Account.create().address
    claim = prove_claim(chain.gate, battle.identities[0], battle.battle_id, recipient, relayer, battle.tree)
    claim_call = chain.gate.functions.claim(
        battle.battle_id, recipient, claim.root, claim.nullifier, claim.proof.evm_words()
    )
    chain.refused(claim_call, relayer, "battle not over")
    vote = prove_vote(chain.gate, battle.identities[1], battle.battle_id, 0, relayer, battle.tree)
    chain.time_travel(601)
    chain.refused(_vote(chain, battle, vote, 0), relayer, "voting closed")
    chain.refused(
        chain.gate.functions.register(battle.battle_id, 777, PRICE),
        chain.accounts[3],
        "battle is over",
        PRICE,
    )

    reward = PRICE * REWARD_BPS // 10_000
    chain.send(claim_call, relayer)
    assert chain.w3.eth.get_balance(recipient) == reward
    chain.refused(claim_call, relayer, "nullifier already used")
    # The vote nullifier and the claim nullifier differ: having claimed says nothing about having voted.
    assert claim.nullifier != battle.identities[0].nullifier(
        scope(chain.w3.eth.chain_id, chain.gate.address, battle.battle_id, Action.VOTE)
    )

    dj = battle.djs[0]
    before = chain.w3.eth.get_balance(dj)
    receipt = chain.send(chain.gate.functions.withdraw(battle.battle_id), dj)
    paid = chain.gate.events.Withdrawn().process_receipt(receipt)[0]["args"]["amount"]
    assert paid == 2 * (PRICE - reward) // 2
    fee = receipt["gasUsed"] * receipt["effectiveGasPrice"]
    assert chain.w3.eth.get_balance(dj) == before + paid - fee
    chain.refused(chain.gate.functions.withdraw(battle.battle_id), dj, "nothing to withdraw")
    chain.refused(chain.gate.functions.withdraw(battle.battle_id), chain.accounts[5], "not a DJ")


def test_gate_publishes_its_key_and_another_key_refuses_these_proofs(chain: Chain, tmp_path: Path) -> None:
    key = groth16.VerifyingKey.load(VERIFICATION_KEY_PATH)
    assert chain.gate.functions.VK_HASH().call() == key.evm_hash()
    # A gate deployed with another ceremony's key (here: delta swapped for gamma) refuses proofs made with
    # the test proving key, and says so through a different VK_HASH.
    data = json.loads(VERIFICATION_KEY_PATH.read_text(encoding="utf-8"))
    data["vk_delta_2"] = data["vk_gamma_2"]
    other_key = tmp_path / "other_vkey.json"
    other_key.write_text(json.dumps(data), encoding="utf-8")
    other = deploy(chain.w3, chain.accounts[0], other_key).gate
    assert other.functions.VK_HASH().call() != key.evm_hash()
    identities = [Identity.generate() for _ in range(2)]
    proof = prove(identities[0], MerkleTree(i.commitment for i in identities), scope=5, signal_hash=6)
    assert chain.gate.functions.verify_proof(proof.public_inputs, proof.proof.evm_words()).call()
    assert not other.functions.verify_proof(proof.public_inputs, proof.proof.evm_words()).call()
