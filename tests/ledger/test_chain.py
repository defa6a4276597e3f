"""The in-process py-evm chain (the devnet fallback and the tests' chain) answers as a real node would."""

from __future__ import annotations

import pytest
from eth_tester.exceptions import TransactionFailed
from py_ecc import bn128

from djmesh.ledger.evm import EvmChain

PAIRING = "0x0000000000000000000000000000000000000008"  # the ecPairing precompile (EIP-197)


def _word(n: int) -> bytes:
    return n.to_bytes(32, "big")


def _pair(p: tuple[bn128.FQ, bn128.FQ], q: tuple[bn128.FQ2, bn128.FQ2]) -> bytes:
    (x_re, x_im), (y_re, y_im) = q[0].coeffs, q[1].coeffs
    return b"".join(_word(int(c)) for c in (*p, x_im, x_re, y_im, y_re))


def test_a_pairing_check_asked_again_gets_the_same_answer_and_bad_points_are_refused_every_time() -> None:
    """Repeated checks are answered from memory (a relayer's eth_call, then its transaction): the answers
    must be the ones py-evm computes, and an input it refuses must not be remembered as an answer."""
    chain = EvmChain.in_process()
    p, q = bn128.G1, bn128.G2
    holds = _pair(p, q) + _pair(bn128.neg(p), q)  # e(P, Q) * e(-P, Q) == 1
    fails = _pair(p, q)
    off_curve = _word(1) + _word(3) + fails[64:]
    for _ in range(2):
        assert chain.w3.eth.call({"to": PAIRING, "data": holds}) == _word(1)
        assert chain.w3.eth.call({"to": PAIRING, "data": fails}) == _word(0)
        with pytest.raises(TransactionFailed, match="Invalid ECPAIRING"):
            chain.w3.eth.call({"to": PAIRING, "data": off_curve})
