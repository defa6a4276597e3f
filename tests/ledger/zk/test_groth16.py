"""snarkjs proofs checked by the independent py_ecc verifier; encodings round-trip."""

from __future__ import annotations

import pytest

from djmesh.ledger.zk import groth16
from djmesh.ledger.zk.identity import Identity
from djmesh.ledger.zk.merkle import MerkleTree
from djmesh.ledger.zk.params import PUBLIC_INPUTS, VERIFICATION_KEY_PATH
from djmesh.ledger.zk.prover import ListenProof, prove


@pytest.fixture(scope="module")
def listen_proof() -> ListenProof:
    identities = [Identity.generate() for _ in range(2)]
    return prove(identities[0], MerkleTree(i.commitment for i in identities), scope=11, signal_hash=22)


def test_py_ecc_accepts_the_proof_and_refuses_other_inputs(listen_proof: ListenProof) -> None:
    key = groth16.VerifyingKey.load(VERIFICATION_KEY_PATH)
    assert key.public_count == len(PUBLIC_INPUTS)
    assert groth16.verify(key, listen_proof.public_inputs, listen_proof.proof)
    changed = [*listen_proof.public_inputs[:3], listen_proof.signal_hash + 1]
    assert not groth16.verify(key, changed, listen_proof.proof)
    assert not groth16.verify(key, listen_proof.public_inputs[:3], listen_proof.proof)


def test_evm_words_round_trip(listen_proof: ListenProof) -> None:
    words = listen_proof.proof.evm_words()
    assert groth16.Proof.from_evm_words(words) == listen_proof.proof
    with pytest.raises(groth16.MalformedProofError):
        groth16.Proof.from_evm_words(words[:7])
    with pytest.raises(groth16.MalformedProofError):
        groth16.Proof.from_evm_words([groth16.BASE_FIELD, *words[1:]])
    with pytest.raises(groth16.MalformedProofError):
        groth16.Proof.from_snarkjs({"pi_a": ["1", "2"]})
