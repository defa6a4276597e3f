"""Listen proofs: proving time, on-chain verify / vote / register gas of ListenGate.

    /work/venv/bin/python bench/ledger_zk.py [--json] [--proofs N]

Runs a real EVM in process (eth-tester / py-evm, Prague rules; gas is the chain's own accounting), deploys
the Poseidon hasher and ListenGate with the checked-in test key, registers listeners, and times snarkjs
proofs end to end as a user runs them (node start, witness, Groth16 prove; all cores, 2 here). Reference
a user would compare with: Semaphore V4 (validateProof 285,622 gas; prove 0.3-0.5 s).
Fields: prove_s (median wall seconds per proof), verify_gas (gas of a transaction that only calls
ListenGate.verify_proof, 21,000 intrinsic and calldata included), vote_gas (gas of a vote transaction),
register_gas (a paid registration, typical / first in a battle), hash_gas (one Poseidon call on-chain).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

SEMAPHORE_V4_VOTE_GAS = 285_622
GOALS = {"prove_s": 2.0, "vote_gas": 280_000}


def measure(proofs: int = 5, listeners: int = 8) -> dict[str, Any]:
    from web3 import EthereumTesterProvider, Web3

    from djmesh.ledger.zk import groth16
    from djmesh.ledger.zk.gate import deploy, gate_domain, prove_vote, sign_gate_battle
    from djmesh.ledger.zk.identity import Identity
    from djmesh.ledger.zk.merkle import MerkleTree
    from djmesh.ledger.zk.params import VERIFICATION_KEY_PATH

    w3 = Web3(EthereumTesterProvider())
    accounts = [str(a) for a in w3.eth.accounts]

    def gas_of(call: Any, sender: str, value: int = 0) -> int:
        receipt = w3.eth.get_transaction_receipt(
            call.transact({"from": sender, "value": value, "gas": 3_000_000})
        )
        if receipt["status"] != 1:
            raise RuntimeError("benchmark transaction reverted")
        return int(receipt["gasUsed"])

    gate = deploy(w3, accounts[0]).gate
    hasher = gate.functions.HASHER().call()
    one_two = (1).to_bytes(32, "big") + (2).to_bytes(32, "big")
    hash_tx = w3.eth.send_transaction({"from": accounts[0], "to": hasher, "data": one_two})
    hash_gas = int(w3.eth.get_transaction_receipt(hash_tx)["gasUsed"]) - 21_000 - 62 * 4 - 2 * 16

    battle_id, price = b"\x42" * 32, 10**15
    now = int(w3.eth.get_block("latest")["timestamp"])
    provider: Any = w3.provider
    dj_keys = [bytes(provider.ethereum_tester.backend.account_keys[i].to_bytes()) for i in (1, 2)]
    domain = gate_domain(w3.eth.chain_id, gate.address)
    signatures = [
        sign_gate_battle(k, domain, battle_id, accounts[1:3], price, 2_000, now + 86_400).as_abi()
        for k in dj_keys
    ]
    create = gate.functions.create_battle(battle_id, accounts[1:3], price, 2_000, now + 86_400, signatures)
    gas_of(create, accounts[0])
    identities = [Identity.generate() for _ in range(listeners)]
    register_gas = [
        gas_of(gate.functions.register(battle_id, i.commitment, price), accounts[3 + n % 4], price)
        for n, i in enumerate(identities)
    ]
    tree = MerkleTree(i.commitment for i in identities)

    relayer = accounts[8]
    prove_times, vote_gas, verify_gas = [], [], []
    key = groth16.VerifyingKey.load(VERIFICATION_KEY_PATH)
    py_ecc_s = 0.0
    for n in range(min(proofs, listeners)):
        choice = n % 2
        started = time.perf_counter()
        proof = prove_vote(gate, identities[n], battle_id, choice, relayer, tree)
        prove_times.append(time.perf_counter() - started)
        words = proof.proof.evm_words()
        if not gate.functions.verify_proof(proof.public_inputs, words).call():
            raise RuntimeError("contract refused a fresh proof")
        verify_gas.append(gas_of(gate.functions.verify_proof(proof.public_inputs, words), relayer))
        vote_gas.append(
            gas_of(gate.functions.vote(battle_id, choice, proof.root, proof.nullifier, words), relayer)
        )
        if n == 0:
            started = time.perf_counter()
            if not groth16.verify(key, proof.public_inputs, proof.proof):
                raise RuntimeError("py_ecc refused a fresh proof")
            py_ecc_s = time.perf_counter() - started
    return {
        "prove_s": round(statistics.median(prove_times), 3),
        "prove_s_max": round(max(prove_times), 3),
        "verify_gas": int(statistics.median(verify_gas)),
        "vote_gas": int(statistics.median(vote_gas)),
        "vote_gas_max": max(vote_gas),
        "register_gas": int(statistics.median(register_gas[1:])),
        "register_gas_first": register_gas[0],
        "hash_gas": hash_gas,
        "py_ecc_verify_s": round(py_ecc_s, 3),
        "proofs": len(prove_times),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--proofs", type=int, default=5)
    args = parser.parse_args(argv)
    result = measure(proofs=max(1, args.proofs), listeners=max(8, args.proofs))
    if args.json:
        print(json.dumps(result, sort_keys=True))
        return 0
    print(f"{'':24}{'djmesh ListenGate':>20}{'Semaphore V4':>16}{'goal':>12}")
    print(f"{'prove, s (median)':24}{result['prove_s']:>20}{'0.3-0.5':>16}{GOALS['prove_s']:>12}")
    print(f"{'vote tx, gas':24}{result['vote_gas']:>20,}{SEMAPHORE_V4_VOTE_GAS:>16,}{GOALS['vote_gas']:>12,}")
    print(f"{'verify-only tx, gas':24}{result['verify_gas']:>20,}")
    print(
        f"{'register tx, gas':24}{result['register_gas']:>20,}   (first in a battle {result['register_gas_first']:,})"
    )
    print(f"{'Poseidon call, gas':24}{result['hash_gas']:>20,}")
    print(f"{'py_ecc verify, s':24}{result['py_ecc_verify_s']:>20}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
