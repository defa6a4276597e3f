"""Deploying and reading ListenGate with web3: the hasher, the gate with a verification key, and the tree;
and the DJs' EIP-712 consent to a gate battle's terms (``create_battle`` takes every DJ's signature)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from eth_utils.address import to_checksum_address
from eth_utils.crypto import keccak
from web3 import Web3
from web3.contract import Contract

from djmesh.ledger.artifacts import load_artifact
from djmesh.ledger.evm.eip712 import Domain, Signature, sign_digest, word
from djmesh.ledger.evm.escrow import addresses_hash
from djmesh.ledger.evm.sender import TxSender
from djmesh.ledger.zk.groth16 import VerifyingKey
from djmesh.ledger.zk.identity import Identity
from djmesh.ledger.zk.merkle import MerkleTree
from djmesh.ledger.zk.params import POSEIDON_EVM_PATH, VERIFICATION_KEY_PATH
from djmesh.ledger.zk.prover import ListenProof, prove
from djmesh.ledger.zk.signals import Action, claim_signal, scope, vote_signal

NO_ESCROW = "0x" + "00" * 20
GATE_BATTLE_TYPEHASH = keccak(
    b"GateBattle(bytes32 battleId,address[] djs,uint256 price,uint256 rewardBps,uint256 endsAt)"
)


def gate_domain(chain_id: int, gate: str) -> Domain:
    return Domain("djmesh ListenGate", "1", chain_id, to_checksum_address(gate))


def gate_battle_digest(
    domain: Domain, battle_id: bytes, djs: list[str], price: int, reward_bps: int, ends_at: int
) -> bytes:
    """What every DJ signs to let the battle be created with these terms (choice i is ``djs[i]``)."""
    if len(battle_id) != 32:
        raise ValueError("battle ID must be 32 bytes")
    struct = GATE_BATTLE_TYPEHASH + battle_id + addresses_hash(djs) + word(price) + word(reward_bps)
    return domain.digest(keccak(struct + word(ends_at)))


def sign_gate_battle(
    private_key: bytes,
    domain: Domain,
    battle_id: bytes,
    djs: list[str],
    price: int,
    reward_bps: int,
    ends_at: int,
) -> Signature:
    """A DJ's consent to the gate battle's terms (its wallet key)."""
    return sign_digest(private_key, gate_battle_digest(domain, battle_id, djs, price, reward_bps, ends_at))


@dataclass(frozen=True)
class Deployment:
    gate: Contract
    hasher: str


def _deploy_code(w3: Web3, sender: str, bytecode: bytes) -> str:
    receipt = w3.eth.wait_for_transaction_receipt(w3.eth.send_transaction({"from": sender, "data": bytecode}))
    if receipt["status"] != 1 or receipt["contractAddress"] is None:
        raise RuntimeError("contract deployment reverted")
    return str(receipt["contractAddress"])


def deploy(
    w3: Web3, sender: str, key_path: Path = VERIFICATION_KEY_PATH, escrow: str = NO_ESCROW
) -> Deployment:
    """Deploy the Poseidon hasher and a ListenGate trusting `key_path` (default: the TEST-ONLY key);
    with `escrow`, the gate takes only the DJs that BattleEscrow holds for a battle ID."""
    hasher_artifact = json.loads(POSEIDON_EVM_PATH.read_text(encoding="utf-8"))
    hasher = _deploy_code(w3, sender, bytes.fromhex(hasher_artifact["bytecode"].removeprefix("0x")))
    artifact = load_artifact("ListenGate")
    factory = w3.eth.contract(abi=artifact.abi, bytecode=artifact.bytecode)
    key = VerifyingKey.load(key_path)
    tx = factory.constructor(hasher, escrow, *key.constructor_args()).transact({"from": sender})
    receipt = w3.eth.wait_for_transaction_receipt(tx)
    if receipt["status"] != 1:
        raise RuntimeError("ListenGate deployment reverted")
    gate = w3.eth.contract(address=receipt["contractAddress"], abi=artifact.abi)
    assert isinstance(gate, Contract)
    return Deployment(gate, hasher)


def battle_tree(gate: Contract, battle_id: bytes) -> MerkleTree:
    """Rebuild the battle's tree from Registered events and check its root against the contract."""
    logs = gate.events.Registered.get_logs(from_block=0, argument_filters={"battle_id": battle_id})
    ordered = sorted(logs, key=lambda log: int(log["args"]["leaf_index"]))
    if [int(log["args"]["leaf_index"]) for log in ordered] != list(range(len(ordered))):
        raise RuntimeError("Registered events have gaps; the node returned an incomplete log")
    tree = MerkleTree(int(log["args"]["commitment"]) for log in ordered)
    if len(tree) and not gate.functions.is_known_root(battle_id, tree.root).call():
        raise RuntimeError("tree rebuilt from events has a root the contract does not know")
    return tree


def prove_vote(
    gate: Contract,
    identity: Identity,
    battle_id: bytes,
    choice: int,
    relayer: str,
    tree: MerkleTree | None = None,
) -> ListenProof:
    """A proof for `vote(battle_id, choice, ...)` sent by `relayer`."""
    w3: Any = gate.w3
    tree = tree or battle_tree(gate, battle_id)
    vote_scope = scope(w3.eth.chain_id, gate.address, battle_id, Action.VOTE)
    return prove(identity, tree, vote_scope, vote_signal(choice, relayer))


def prove_claim(
    gate: Contract,
    identity: Identity,
    battle_id: bytes,
    recipient: str,
    relayer: str,
    tree: MerkleTree | None = None,
) -> ListenProof:
    w3: Any = gate.w3
    tree = tree or battle_tree(gate, battle_id)
    claim_scope = scope(w3.eth.chain_id, gate.address, battle_id, Action.CLAIM)
    return prove(identity, tree, claim_scope, claim_signal(recipient, relayer))


def deploy_gate(sender: TxSender, key_path: Path = VERIFICATION_KEY_PATH, escrow: str = NO_ESCROW) -> str:
    """Deploy the Poseidon hasher and a ListenGate trusting ``key_path`` from ``sender``'s wallet; the
    gate's address. Blocking. The default key is the TEST-ONLY key (see ledger/zk/README.md). With
    ``escrow`` (a BattleEscrow), a gate battle's DJs must be the ones that escrow holds for its ID."""
    hasher_code = json.loads(POSEIDON_EVM_PATH.read_text(encoding="utf-8"))["bytecode"]
    hasher = sender.deploy([], bytes.fromhex(hasher_code.removeprefix("0x")))
    artifact = load_artifact("ListenGate")
    key = VerifyingKey.load(key_path)
    return sender.deploy(artifact.abi, artifact.bytecode, hasher, escrow, *key.constructor_args())
