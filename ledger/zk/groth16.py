"""Groth16 proofs and verification keys in snarkjs' JSON form, their EVM encoding, and a py_ecc verifier.

The py_ecc verifier is independent of both snarkjs and the contract, so tests can cross-check all three.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from eth_abi.abi import encode
from eth_utils.crypto import keccak
from py_ecc.fields import optimized_bn128_FQ as FQ
from py_ecc.fields import optimized_bn128_FQ2 as FQ2
from py_ecc.fields import optimized_bn128_FQ12 as FQ12
from py_ecc.optimized_bn128 import optimized_curve as curve
from py_ecc.optimized_bn128 import optimized_pairing

from djmesh.ledger.errors import LedgerError
from djmesh.ledger.zk.grain import FIELD_MODULUS as SCALAR_FIELD

BASE_FIELD = 21888242871839275222246405745257275088696311157297823662689037894645226208583

G1Point = tuple[int, int]
G2Point = tuple[tuple[int, int], tuple[int, int]]  # ((x_re, x_im), (y_re, y_im))


class MalformedProofError(LedgerError, ValueError):
    """A proof or key that does not decode to valid curve points."""


def _int(value: Any) -> int:
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise MalformedProofError(f"not an integer: {value!r}") from None
    if not 0 <= number < BASE_FIELD:
        raise MalformedProofError(f"coordinate out of range: {number}")
    return number


def _g1(raw: Sequence[Any]) -> G1Point:
    return (_int(raw[0]), _int(raw[1]))


def _g2(raw: Sequence[Sequence[Any]]) -> G2Point:
    return ((_int(raw[0][0]), _int(raw[0][1])), (_int(raw[1][0]), _int(raw[1][1])))


def _g2_words(point: G2Point) -> list[int]:
    """EIP-197 order: imaginary part first."""
    (x_re, x_im), (y_re, y_im) = point
    return [x_im, x_re, y_im, y_re]


@dataclass(frozen=True)
class Proof:
    a: G1Point
    b: G2Point
    c: G1Point

    @classmethod
    def from_snarkjs(cls, data: dict[str, Any]) -> Proof:
        try:
            return cls(_g1(data["pi_a"]), _g2(data["pi_b"]), _g1(data["pi_c"]))
        except (KeyError, IndexError, TypeError) as exc:
            raise MalformedProofError(f"not a snarkjs Groth16 proof: {exc}") from None

    def evm_words(self) -> list[int]:
        """The 8 words ListenGate takes: A.x, A.y, B (EIP-197 order), C.x, C.y."""
        return [*self.a, *_g2_words(self.b), *self.c]

    @classmethod
    def from_evm_words(cls, words: Sequence[int]) -> Proof:
        if len(words) != 8:
            raise MalformedProofError(f"a proof is 8 words, got {len(words)}")
        w = [_int(x) for x in words]
        return cls((w[0], w[1]), ((w[3], w[2]), (w[5], w[4])), (w[6], w[7]))


@dataclass(frozen=True)
class VerifyingKey:
    alpha: G1Point
    beta: G2Point
    gamma: G2Point
    delta: G2Point
    ic: tuple[G1Point, ...]

    @property
    def public_count(self) -> int:
        return len(self.ic) - 1

    @classmethod
    def load(cls, path: Path) -> VerifyingKey:
        data = json.loads(path.read_text(encoding="utf-8"))
        if data.get("protocol") != "groth16" or data.get("curve") != "bn128":
            raise MalformedProofError(f"{path} is not a Groth16 BN254 verification key")
        return cls(
            _g1(data["vk_alpha_1"]),
            _g2(data["vk_beta_2"]),
            _g2(data["vk_gamma_2"]),
            _g2(data["vk_delta_2"]),
            tuple(_g1(point) for point in data["IC"]),
        )

    def constructor_args(self) -> tuple[list[int], list[int], list[int], list[int], list[int]]:
        """ListenGate's verification-key constructor arguments: alpha, beta, gamma, delta, IC (flattened)."""
        ic = [coordinate for point in self.ic for coordinate in point]
        return list(self.alpha), _g2_words(self.beta), _g2_words(self.gamma), _g2_words(self.delta), ic

    def evm_hash(self) -> bytes:
        """What ListenGate.VK_HASH() returns for a gate deployed with this key."""
        alpha, beta, gamma, delta, ic = self.constructor_args()
        types = ["uint256[2]", "uint256[4]", "uint256[4]", "uint256[4]", f"uint256[{len(ic)}]"]
        return keccak(encode(types, [alpha, beta, gamma, delta, ic]))


def _fq_g1(point: G1Point) -> tuple[FQ, FQ, FQ]:
    return (FQ(point[0]), FQ(point[1]), FQ.one())


def _fq_g2(point: G2Point) -> tuple[FQ2, FQ2, FQ2]:
    return (FQ2(list(point[0])), FQ2(list(point[1])), FQ2.one())


def verify(key: VerifyingKey, public_inputs: Sequence[int], proof: Proof) -> bool:
    """Pure-Python Groth16 check e(A,B) = e(alpha,beta) e(vk_x,gamma) e(C,delta); about a second on one core."""
    if len(public_inputs) != key.public_count:
        return False
    if any(not 0 <= value < SCALAR_FIELD for value in public_inputs):
        return False
    points_g1 = [_fq_g1(p) for p in (proof.a, proof.c, key.alpha, *key.ic)]
    points_g2 = [_fq_g2(p) for p in (proof.b, key.beta, key.gamma, key.delta)]
    if not all(curve.is_on_curve(p, curve.b) for p in points_g1):
        return False
    if not all(curve.is_on_curve(p, curve.b2) for p in points_g2):
        return False
    a, c, alpha, *ic = points_g1
    b, beta, gamma, delta = points_g2
    # G2 points must lie in the prime-order subgroup (the EVM precompile checks this too).
    if any(curve.multiply(p, curve.curve_order)[2] != FQ2.zero() for p in points_g2):
        return False
    vk_x = ic[0]
    for value, point in zip(public_inputs, ic[1:], strict=True):
        vk_x = curve.add(vk_x, curve.multiply(point, value))
    product = FQ12.one()
    for g2, g1 in ((b, curve.neg(a)), (beta, alpha), (gamma, vk_x), (delta, c)):
        product = product * optimized_pairing.pairing(g2, g1, final_exponentiate=False)
    return bool(optimized_pairing.final_exponentiate(product) == FQ12.one())
