"""A funded wallet on an in-process SVM, and a DJ with none."""

from __future__ import annotations

import pytest
from solders.keypair import Keypair
from solders.pubkey import Pubkey

from djmesh.ledger.solana import LiteSVMBackend, SolanaLedger

ONE_SOL = 1_000_000_000


@pytest.fixture
def backend() -> LiteSVMBackend:
    return LiteSVMBackend()


@pytest.fixture
async def node_wallet(backend: LiteSVMBackend) -> SolanaLedger:
    ledger = SolanaLedger(backend, Keypair())
    await ledger.airdrop(2 * ONE_SOL)
    return ledger


@pytest.fixture
def dj() -> Pubkey:
    return Keypair().pubkey()
