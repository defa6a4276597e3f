"""Zero-knowledge listen proofs: "I am one of this battle's paid listeners and have not voted yet".

Semaphore-style Groth16 proofs over BN254: identity commitments in a per-battle Poseidon Merkle tree kept by the
ListenGate contract, a per-battle nullifier, and the vote bound as a public input. See README.md in this folder
for what the proof does and does not show, and for the trusted setup.
"""
