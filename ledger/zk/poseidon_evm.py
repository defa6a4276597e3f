"""EVM bytecode for Poseidon(a, b) on BN254, generated from djmesh's own Grain constants.

Vyper has no way to keep Poseidon's state on the stack, and a loop over storage or memory tables costs several
times more gas, so the incremental Merkle tree calls this small hand-scheduled contract instead. Interface: call
with exactly 64 bytes of calldata (a, b as big-endian words, each below the field modulus); returns 32 bytes,
Poseidon(a, b) as computed by `djmesh.ledger.zk.poseidon.poseidon`. Anything else reverts with empty data.

Gas tricks: partial rounds use the sparse-matrix form of the Poseidon paper (`optimized_rounds`), dense
matrices are read from memory, and values are reduced lazily: sums of three reduced products plus a round
constant stay below 4p < 2**256, so plain ADD is safe; MULMOD and ADDMOD accept unreduced operands; the output
is reduced once with MOD. About 14,500 gas per hash.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from djmesh.ledger.zk.grain import FIELD_MODULUS, poseidon_params

ADD, ADDMOD, MULMOD, MOD, EQ, LT, AND = 0x01, 0x08, 0x09, 0x06, 0x14, 0x10, 0x16
CALLDATALOAD, CALLDATASIZE, MLOAD, MSTORE = 0x35, 0x36, 0x51, 0x52
JUMPI, JUMPDEST, PUSH0, RETURN, REVERT, POP, CODECOPY = 0x57, 0x5B, 0x5F, 0xF3, 0xFD, 0x50, 0x39
DUP1, SWAP1 = 0x80, 0x90


class _Assembler:
    """Emits bytecode while tracking which named value sits where on the stack."""

    def __init__(self) -> None:
        self.code = bytearray()
        self.stack: list[str] = []

    def raw(self, *ops: int) -> None:
        self.code.extend(ops)

    def push(self, value: int, name: str) -> None:
        if value == 0:
            self.raw(PUSH0)
        else:
            data = value.to_bytes((value.bit_length() + 7) // 8, "big")
            self.raw(0x5F + len(data), *data)
        self.stack.append(name)

    def dup(self, name: str, as_name: str) -> None:
        depth = len(self.stack) - 1 - self.stack.index(name)
        if depth > 15:
            raise AssertionError(f"{name} is {depth} deep, out of DUP range")
        self.raw(DUP1 + depth)
        self.stack.append(as_name)

    def op(self, opcode: int, inputs: int, result: str | None) -> None:
        self.raw(opcode)
        del self.stack[len(self.stack) - inputs :]
        if result is not None:
            self.stack.append(result)

    def replace(self, old: str) -> None:
        """Move the top value into `old`'s slot and drop `old`; the top keeps its own name."""
        depth = len(self.stack) - 1 - self.stack.index(old)
        if depth > 16:
            raise AssertionError(f"{old} is {depth} deep, out of SWAP range")
        top = self.stack[-1]
        self.raw(SWAP1 + depth - 1, POP)
        slot = self.stack.index(old)
        self.stack.pop()
        self.stack[slot] = top

    def swap1(self) -> None:
        self.raw(SWAP1)
        self.stack[-2], self.stack[-1] = self.stack[-1], self.stack[-2]

    def rename(self, old: str, new: str) -> None:
        self.stack[self.stack.index(old)] = new


def _sbox(asm: _Assembler, name: str) -> None:
    asm.dup("p", "p'")
    asm.dup(name, "x")
    asm.dup("x", "x'")
    asm.op(MULMOD, 3, "x2")
    asm.dup("p", "p'")
    asm.swap1()
    asm.dup("x2", "x2'")
    asm.op(MULMOD, 3, "x4")
    asm.dup("p", "p'")
    asm.swap1()
    asm.dup(name, "x")
    asm.op(MULMOD, 3, "x5")
    asm.replace(name)
    asm.rename("x5", name)


def _matmul(a: list[list[int]], b: list[list[int]]) -> list[list[int]]:
    return [
        [sum(a[i][k] * b[k][j] for k in range(len(b))) % FIELD_MODULUS for j in range(len(b[0]))]
        for i in range(len(a))
    ]


def _inverse_2x2(m: list[list[int]]) -> list[list[int]]:
    (a, b), (c, d) = m
    inv = pow((a * d - b * c) % FIELD_MODULUS, -1, FIELD_MODULUS)
    return [
        [d * inv % FIELD_MODULUS, -b * inv % FIELD_MODULUS],
        [-c * inv % FIELD_MODULUS, a * inv % FIELD_MODULUS],
    ]


@dataclass(frozen=True)
class _Round:
    constants: tuple[int, ...]  # added before the S-box: 3 in full rounds, 1 (to s0) in partial rounds
    full: bool
    dense: tuple[tuple[int, ...], ...] | None  # the mix matrix, or None for a sparse one:
    sparse: tuple[int, tuple[int, int], tuple[int, int]] | None  # (m00, row w, column v)


def optimized_rounds() -> list[_Round]:
    """The same permutation with cheaper partial rounds (the Poseidon paper's appendix B method).

    1. In a partial round only s0 meets the S-box, so the constants of s1, s2 are pushed through the mix
       into the next round's constants: partial rounds then add one constant.
    2. Going backwards from the last partial round, each mix matrix A is split as A = S * diag(1, A_hat),
       S = [[a00, w], [v, I]] with w = a_row * inverse(A_hat), v = a_col. diag(1, A_hat) commutes with a
       partial round (it leaves s0 alone), so it moves into the previous round's matrix. A partial round then
       mixes with 5 multiplications instead of 9; the last full round before them gets a new dense matrix.
    """
    params = poseidon_params(3)
    width, half = params.width, params.full_rounds // 2
    total = params.full_rounds + params.partial_rounds
    mds = [list(row) for row in params.mds]
    partial = [half <= r < total - half for r in range(total)]
    constants: list[tuple[int, ...]] = []
    carry = [0] * width
    for r in range(total):
        c = [(params.round_constants[r * width + i] + carry[i]) % FIELD_MODULUS for i in range(width)]
        if partial[r]:
            carry = [sum(mds[i][j] * c[j] for j in range(1, width)) % FIELD_MODULUS for i in range(width)]
            c = c[:1]
        else:
            carry = [0] * width
        constants.append(tuple(c))
    dense: list[list[list[int]] | None] = [mds] * total
    sparse: list[tuple[int, tuple[int, int], tuple[int, int]] | None] = [None] * total
    matrix = mds
    for r in reversed(range(half, total - half)):
        hat = [row[1:] for row in matrix[1:]]
        w = _matmul([matrix[0][1:]], _inverse_2x2(hat))[0]
        sparse[r] = (matrix[0][0], (w[0], w[1]), (matrix[1][0], matrix[2][0]))
        dense[r] = None
        matrix = _matmul([[1, 0, 0], [0, *hat[0]], [0, *hat[1]]], mds)
    dense[half - 1] = matrix
    return [
        _Round(
            constants[r],
            not partial[r],
            None if dense[r] is None else tuple(tuple(row) for row in dense[r] or ()),
            sparse[r],
        )
        for r in range(total)
    ]


def runtime_code() -> bytes:
    rounds = optimized_rounds()
    matrices = sorted({rnd.dense for rnd in rounds if rnd.dense is not None})
    asm = _Assembler()
    # Guard: exactly 64 bytes of calldata, both words reduced.
    asm.push(FIELD_MODULUS, "p")
    asm.push(64, "64")
    asm.raw(CALLDATASIZE)
    asm.stack.append("size")
    asm.op(EQ, 2, "ok")
    for offset in (0, 32):
        asm.dup("p", "p'")
        asm.push(offset, "off")
        asm.op(CALLDATALOAD, 1, "word")
        asm.op(LT, 2, "reduced")
        asm.op(AND, 2, "ok")
    ok_jump = len(asm.code) + 1
    asm.push(0xFFFF, "dest")
    asm.op(JUMPI, 2, None)
    asm.raw(PUSH0, PUSH0, REVERT)
    dest = len(asm.code)
    asm.code[ok_jump : ok_jump + 2] = dest.to_bytes(2, "big")
    asm.raw(JUMPDEST)
    # Dense matrices live in memory: 9 words each, row-major.
    for index, matrix in enumerate(matrices):
        for i in range(3):
            for j in range(3):
                asm.push(matrix[i][j], "m")
                asm.push(32 * (9 * index + 3 * i + j), "off")
                asm.op(MSTORE, 2, None)
    # First round constants on [0, a, b].
    asm.push(rounds[0].constants[0], "s0")
    for i in (1, 2):
        asm.push(32 * (i - 1), "off")
        asm.op(CALLDATALOAD, 1, "word")
        asm.push(rounds[0].constants[i], "c")
        asm.op(ADD, 2, f"s{i}")
    for r, rnd in enumerate(rounds):
        for i in range(3) if rnd.full else (0,):
            _sbox(asm, f"s{i}")
        last = r == len(rounds) - 1
        following = () if last else rounds[r + 1].constants
        if rnd.sparse is not None:
            _sparse_mix(asm, rnd.sparse, following)
        else:
            assert rnd.dense is not None
            _dense_mix(asm, 9 * 32 * matrices.index(rnd.dense), following, outputs=1 if last else 3)
        if last:
            asm.dup("p", "p'")
            asm.swap1()
            asm.op(MOD, 2, "out")
            asm.push(0, "off")
            asm.op(MSTORE, 2, None)
            asm.push(32, "len")
            asm.push(0, "off")
            asm.op(RETURN, 2, None)
            break
        # Drop the old state under the new one: [p, s0, s1, s2, n0, n1, n2] -> [p, n0, n1, n2].
        for i in reversed(range(3)):
            asm.replace(f"s{i}")
        for i in range(3):
            asm.rename(f"n{i}", f"s{i}")
    return bytes(asm.code)


def _dense_mix(asm: _Assembler, base: int, following: tuple[int, ...], outputs: int) -> None:
    """n_i = sum_j M[i][j] * s_j (+ next round's constant): three reduced products plus a constant < 4p."""
    for i in range(outputs):
        for j in range(3):
            asm.dup("p", "p'")
            asm.dup(f"s{j}", "v")
            asm.push(base + 32 * (3 * i + j), "off")
            asm.op(MLOAD, 1, "m")
            asm.op(MULMOD, 3, "prod")
            if j > 0:
                asm.op(ADD, 2, "acc")
            else:
                asm.rename("prod", "acc")
        if i < len(following):
            asm.push(following[i], "c")
            asm.op(ADD, 2, "acc")
        asm.rename("acc", f"n{i}")


def _sparse_mix(
    asm: _Assembler, sparse: tuple[int, tuple[int, int], tuple[int, int]], following: tuple[int, ...]
) -> None:
    """n0 = m00*s0 + w.(s1, s2); n_i = v_i*s0 + s_i (ADDMOD: s_i may come unreduced from earlier rounds)."""
    m00, w, v = sparse
    for j, factor in enumerate((m00, *w)):
        asm.dup("p", "p'")
        asm.dup(f"s{j}", "x")
        asm.push(factor, "f")
        asm.op(MULMOD, 3, "prod")
        if j > 0:
            asm.op(ADD, 2, "acc")
        else:
            asm.rename("prod", "acc")
    if following:
        asm.push(following[0], "c")
        asm.op(ADD, 2, "acc")
    asm.rename("acc", "n0")
    for i in (1, 2):
        asm.dup("p", "p'")
        asm.dup(f"s{i}", "x")
        asm.dup("p", "p''")
        asm.dup("s0", "y")
        asm.push(v[i - 1], "f")
        asm.op(MULMOD, 3, "prod")
        asm.op(ADDMOD, 3, f"n{i}")
        if i < len(following):
            asm.push(following[i], "c")
            asm.op(ADD, 2, f"n{i}")


def init_code() -> bytes:
    runtime = runtime_code()
    prefix_len = 11
    prefix = bytes(
        [0x61, *len(runtime).to_bytes(2, "big"), DUP1, 0x61, 0, prefix_len, PUSH0, CODECOPY, PUSH0, RETURN]
    )
    assert len(prefix) == prefix_len
    return prefix + runtime


def artifact() -> dict[str, Any]:
    """Same shape as djmesh.ledger.artifacts' JSON; source_sha256 covers the Poseidon constants it embeds."""
    params = poseidon_params(3)
    source = repr((params.round_constants, params.mds)).encode()
    return {
        "name": "PoseidonT3",
        "compiler": "djmesh.ledger.zk.poseidon_evm",
        "source_sha256": hashlib.sha256(source).hexdigest(),
        "abi": [],
        "bytecode": "0x" + init_code().hex(),
    }
