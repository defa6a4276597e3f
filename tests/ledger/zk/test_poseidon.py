"""Poseidon: our Grain-derived constants give the published circomlib values, and the Python hash, the circuit
and the EVM hasher agree."""

from __future__ import annotations

import hashlib
import json
import random

import pytest
from web3 import EthereumTesterProvider, Web3

from djmesh.ledger.zk import build, poseidon_evm
from djmesh.ledger.zk.grain import FIELD_MODULUS, poseidon_params
from djmesh.ledger.zk.identity import Identity
from djmesh.ledger.zk.merkle import MerkleTree
from djmesh.ledger.zk.params import (
    BUILD_INFO_PATH,
    POSEIDON_EVM_PATH,
    VERIFICATION_KEY_PATH,
    WASM_PATH,
    ZKEY_PATH,
)
from djmesh.ledger.zk.poseidon import poseidon
from djmesh.ledger.zk.prover import ProvingError, check_witness, circuit_input


def test_matches_published_reference_values() -> None:
    # Test vectors published with circomlib's Poseidon and the paper's reference code (state [0, 1, 2]).
    assert poseidon(1, 2) == 0x115CC0F5E7D690413DF64C6B9662E9CF2A3617F2743245519E19607A4417189A
    assert poseidon(1) == 0x29176100EAA962BDC1FE6C654D6A3C130E96A4D1168B33848B897DC502820133


def test_parameters_have_the_papers_shape() -> None:
    params = poseidon_params(3)
    assert (params.full_rounds, params.partial_rounds) == (8, 57)
    assert len(params.round_constants) == 65 * 3
    assert all(0 <= c < FIELD_MODULUS for c in params.round_constants)
    assert len(set(params.round_constants)) == len(params.round_constants)
    (a, b, c), (d, e, f), (g, h, i) = params.mds
    determinant = (a * (e * i - f * h) - b * (d * i - f * g) + c * (d * h - e * g)) % FIELD_MODULUS
    assert determinant != 0


def test_rejects_non_field_inputs() -> None:
    with pytest.raises(ValueError, match="field element"):
        poseidon(FIELD_MODULUS, 1)
    with pytest.raises(ValueError, match="1 to 4"):
        poseidon()


def test_circuit_accepts_python_hashes_and_rejects_any_other() -> None:
    """The witness generator enforces root == Merkle root and nullifier == Poseidon(key, scope) with the
    circuit's own Poseidon, so a witness exists exactly when the Python hashes equal the circuit's."""
    identities = [Identity.generate() for _ in range(3)]
    tree = MerkleTree(i.commitment for i in identities)
    inputs = circuit_input(identities[1], tree, scope=987654321, signal_hash=42)
    assert check_witness(inputs) > 0
    for name in ("root", "nullifier"):
        wrong = {**inputs, name: str((int(inputs[name]) + 1) % FIELD_MODULUS)}
        with pytest.raises(ProvingError, match="Error in template ListenProof"):
            check_witness(wrong)


@pytest.fixture(scope="module")
def hasher() -> tuple[Web3, str]:
    w3 = Web3(EthereumTesterProvider())
    tx = w3.eth.send_transaction({"from": w3.eth.accounts[0], "data": poseidon_evm.init_code()})
    address = w3.eth.get_transaction_receipt(tx)["contractAddress"]
    assert address is not None
    return w3, str(address)


def test_evm_hasher_matches_python(hasher: tuple[Web3, str]) -> None:
    w3, address = hasher
    rng = random.Random(7)
    cases = [(0, 0), (1, 2), (FIELD_MODULUS - 1, FIELD_MODULUS - 1)]
    cases += [(rng.randrange(FIELD_MODULUS), rng.randrange(FIELD_MODULUS)) for _ in range(30)]
    for a, b in cases:
        out = w3.eth.call({"to": address, "data": a.to_bytes(32, "big") + b.to_bytes(32, "big")})
        assert int.from_bytes(out, "big") == poseidon(a, b)


def test_evm_hasher_reverts_on_bad_calldata(hasher: tuple[Web3, str]) -> None:
    w3, address = hasher
    one = (1).to_bytes(32, "big")
    for data in (
        FIELD_MODULUS.to_bytes(32, "big") + one,
        one + FIELD_MODULUS.to_bytes(32, "big"),
        one,
        one * 3,
    ):
        tx = w3.eth.send_transaction(
            {"from": w3.eth.accounts[0], "to": address, "data": data, "gas": 200_000}
        )
        assert w3.eth.get_transaction_receipt(tx)["status"] == 0


def test_generated_files_are_reproducible() -> None:
    """The circuit's constants file and the EVM hasher are regenerated from source; the slow snarkjs setup is
    reproducible too (public beacons) but is only rerun by `python -m djmesh.ledger.zk.build`."""
    assert build.CONSTANTS_CIRCOM.read_text(encoding="utf-8") == build.constants_circom()
    assert json.loads(POSEIDON_EVM_PATH.read_text(encoding="utf-8")) == poseidon_evm.artifact()


def test_checked_in_artifacts_match_the_recorded_build() -> None:
    info = json.loads(BUILD_INFO_PATH.read_text(encoding="utf-8"))
    for path in (WASM_PATH, ZKEY_PATH, VERIFICATION_KEY_PATH, POSEIDON_EVM_PATH):
        assert hashlib.sha256(path.read_bytes()).hexdigest() == info["sha256"][path.name], path.name
    assert "TEST ONLY" in info["setup"]
