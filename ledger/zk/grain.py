"""Poseidon parameters for BN254 derived from the Grain LFSR of the Poseidon paper (Grassi et al., appendix F).

The constants are generated here rather than copied from another project, so the circuit, the Python hash and
the EVM hasher share one licence-clean source of truth. The generator follows the paper's reference procedure:
an 80-bit LFSR seeded with the instance parameters, 160 warm-up clocks, self-shrinking output, rejection sampling
of round constants below the field modulus, then a Cauchy MDS matrix from 2t further samples.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache

FIELD_MODULUS = 21888242871839275222246405745257275088548364400416034343698204186575808495617
FIELD_BITS = 254
SBOX_ALPHA = 5
FULL_ROUNDS = 8
# Partial rounds per state width, from the paper's security analysis for a 254-bit prime field and alpha = 5.
PARTIAL_ROUNDS = {2: 56, 3: 57, 4: 56, 5: 60}


@dataclass(frozen=True)
class PoseidonParams:
    width: int
    full_rounds: int
    partial_rounds: int
    round_constants: tuple[int, ...]
    mds: tuple[tuple[int, ...], ...]


def _grain_bits(width: int, partial_rounds: int) -> Iterator[int]:
    seed = (
        f"{1:02b}"  # prime field
        f"{0:04b}"  # S-box x^alpha
        f"{FIELD_BITS:012b}"
        f"{width:012b}"
        f"{FULL_ROUNDS:010b}"
        f"{partial_rounds:010b}" + "1" * 30
    )
    state = [int(bit) for bit in seed]

    def clock() -> int:
        new_bit = state[62] ^ state[51] ^ state[38] ^ state[23] ^ state[13] ^ state[0]
        state.pop(0)
        state.append(new_bit)
        return new_bit

    for _ in range(160):
        clock()
    while True:
        first = clock()
        second = clock()
        if first == 1:
            yield second


def _take_int(bits: Iterator[int], count: int) -> int:
    value = 0
    for _ in range(count):
        value = (value << 1) | next(bits)
    return value


@cache
def poseidon_params(width: int) -> PoseidonParams:
    """Round constants and MDS matrix of Poseidon with `width` state elements (inputs + 1 capacity)."""
    partial_rounds = PARTIAL_ROUNDS[width]
    bits = _grain_bits(width, partial_rounds)
    constants: list[int] = []
    while len(constants) < (FULL_ROUNDS + partial_rounds) * width:
        candidate = _take_int(bits, FIELD_BITS)
        if candidate < FIELD_MODULUS:
            constants.append(candidate)
    while True:
        samples = [_take_int(bits, FIELD_BITS) % FIELD_MODULUS for _ in range(2 * width)]
        if len(set(samples)) != len(samples):
            continue
        xs, ys = samples[:width], samples[width:]
        if any((x + y) % FIELD_MODULUS == 0 for x in xs for y in ys):
            continue
        mds = tuple(tuple(pow(x + y, -1, FIELD_MODULUS) for y in ys) for x in xs)
        return PoseidonParams(width, FULL_ROUNDS, partial_rounds, tuple(constants), mds)
