"""Poseidon hash over the BN254 scalar field, bit-compatible with the circuit in `circuits/poseidon.circom`."""

from __future__ import annotations

from djmesh.ledger.zk.grain import FIELD_MODULUS, SBOX_ALPHA, poseidon_params


def poseidon(*inputs: int) -> int:
    """Hash 1-4 field elements: state = [0, *inputs], permute, return state[0] (the circomlib convention)."""
    if not 1 <= len(inputs) <= 4:
        raise ValueError(f"poseidon takes 1 to 4 inputs, got {len(inputs)}")
    for value in inputs:
        if not 0 <= value < FIELD_MODULUS:
            raise ValueError(f"poseidon input {value} is not a BN254 field element")
    params = poseidon_params(len(inputs) + 1)
    width = params.width
    state = [0, *inputs]
    half_full = params.full_rounds // 2
    total_rounds = params.full_rounds + params.partial_rounds
    for round_index in range(total_rounds):
        offset = round_index * width
        state = [(s + params.round_constants[offset + i]) % FIELD_MODULUS for i, s in enumerate(state)]
        if round_index < half_full or round_index >= total_rounds - half_full:
            state = [pow(s, SBOX_ALPHA, FIELD_MODULUS) for s in state]
        else:
            state[0] = pow(state[0], SBOX_ALPHA, FIELD_MODULUS)
        state = [sum(m * s for m, s in zip(row, state, strict=True)) % FIELD_MODULUS for row in params.mds]
    return state[0]


def hash_pair(left: int, right: int) -> int:
    return poseidon(left, right)
