"""Payments per second and compute units on the in-process SVM, next to bare LiteSVM as the reference.

The reference rows send a bare transfer straight to LiteSVM (no memo, no preflight, no read-back):
what a user gets from LiteSVM alone. The djmesh rows go through `SolanaLedger`, as the node pays:
memo, preflight simulation, balances read before and after. ``python bench/ledger_solana.py [--transfers N]``.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from dataclasses import dataclass

from solders.keypair import Keypair
from solders.litesvm import LiteSVM
from solders.pubkey import Pubkey
from solders.system_program import TransferParams, transfer
from solders.transaction import Transaction
from solders.transaction_metadata import FailedTransactionMetadata
from spl.token.constants import TOKEN_PROGRAM_ID
from spl.token.instructions import transfer_checked
from spl.token.models import TransferCheckedParams

from djmesh.ledger.solana.instructions import token_account
from djmesh.ledger.solana.litesvm_backend import LiteSVMBackend
from djmesh.ledger.solana.memo import voucher_memo
from djmesh.ledger.solana.payments import SolanaLedger

_DECIMALS = 6


@dataclass(frozen=True)
class PaymentFigures:
    label: str
    transfers: int
    seconds: float
    compute_units: int  # mean per transfer, as the chain reported them

    @property
    def per_second(self) -> float:
        return self.transfers / self.seconds if self.seconds > 0 else float("inf")


def measure(transfers: int = 500) -> list[PaymentFigures]:
    return asyncio.run(_measure(transfers))


async def _measure(transfers: int) -> list[PaymentFigures]:
    figures = [_bare_sol(transfers)]
    figures.append(await _pay_sol(transfers, preflight=False))
    figures.append(await _pay_sol(transfers, preflight=True))
    ledger = await _funded_ledger(preflight=True)
    mint = await ledger.create_mint(_DECIMALS)
    await ledger.mint_to(mint, ledger.address, 10**12)
    figures.append(await _bare_token(ledger, mint, transfers))
    figures.append(await _pay_token(ledger, mint, transfers, new_recipient_each_time=False))
    figures.append(await _pay_token(ledger, mint, max(1, transfers // 5), new_recipient_each_time=True))
    return figures


def _bare_sol(transfers: int) -> PaymentFigures:
    svm = LiteSVM()
    payer, dj = Keypair(), Keypair().pubkey()
    svm.airdrop(payer.pubkey(), 10**12)
    blockhash = svm.latest_blockhash()
    units = 0
    start = time.perf_counter()
    for i in range(transfers):
        params = TransferParams(from_pubkey=payer.pubkey(), to_pubkey=dj, lamports=1_000_000 + i)
        result = svm.send_transaction(
            Transaction.new_signed_with_payer([transfer(params)], payer.pubkey(), [payer], blockhash)
        )
        if isinstance(result, FailedTransactionMetadata):
            raise RuntimeError(f"reference transfer failed: {result.err()}")
        units += result.compute_units_consumed()
    return PaymentFigures(
        "LiteSVM bare SOL transfer (reference)", transfers, time.perf_counter() - start, units // transfers
    )


async def _funded_ledger(*, preflight: bool) -> SolanaLedger:
    ledger = SolanaLedger(LiteSVMBackend(preflight=preflight), Keypair())
    await ledger.airdrop(10**12)
    return ledger


async def _pay_sol(transfers: int, *, preflight: bool) -> PaymentFigures:
    ledger = await _funded_ledger(preflight=preflight)
    dj = Keypair().pubkey()
    units = 0
    start = time.perf_counter()
    for i in range(transfers):
        payment = await ledger.pay_sol(dj, 1_000_000, voucher_memo("bench", i))
        units += payment.compute_units
    label = f"djmesh pay_sol + memo, preflight {'on' if preflight else 'off'}"
    return PaymentFigures(label, transfers, time.perf_counter() - start, units // transfers)


async def _bare_token(ledger: SolanaLedger, mint: Pubkey, transfers: int) -> PaymentFigures:
    assert isinstance(ledger.backend, LiteSVMBackend)
    svm, payer = ledger.backend.svm, ledger.keypair
    dj = Keypair().pubkey()
    await ledger.pay_token(mint, dj, 1, _DECIMALS, voucher_memo("open", 1))  # opens the DJ's token account
    blockhash = svm.latest_blockhash()
    units = 0
    start = time.perf_counter()
    for i in range(transfers):
        params = TransferCheckedParams(
            program_id=TOKEN_PROGRAM_ID,
            source=token_account(payer.pubkey(), mint),
            mint=mint,
            dest=token_account(dj, mint),
            owner=payer.pubkey(),
            amount=1 + i,
            decimals=_DECIMALS,
        )
        result = svm.send_transaction(
            Transaction.new_signed_with_payer([transfer_checked(params)], payer.pubkey(), [payer], blockhash)
        )
        if isinstance(result, FailedTransactionMetadata):
            raise RuntimeError(f"reference token transfer failed: {result.err()}")
        units += result.compute_units_consumed()
    return PaymentFigures(
        "LiteSVM bare SPL transfer_checked (reference)",
        transfers,
        time.perf_counter() - start,
        units // transfers,
    )


async def _pay_token(
    ledger: SolanaLedger, mint: Pubkey, transfers: int, *, new_recipient_each_time: bool
) -> PaymentFigures:
    dj = Keypair().pubkey()
    units = 0
    start = time.perf_counter()
    for i in range(transfers):
        if new_recipient_each_time:
            dj = Keypair().pubkey()
        payment = await ledger.pay_token(mint, dj, 1_000, _DECIMALS, voucher_memo("bench", i))
        units += payment.compute_units
    label = "djmesh pay_token + memo, " + (
        "opening the DJ's token account" if new_recipient_each_time else "account exists"
    )
    return PaymentFigures(label, transfers, time.perf_counter() - start, units // transfers)


def format_figures(figures: list[PaymentFigures]) -> str:
    rows = [f"{'Solana payments (in-process LiteSVM)':<58} {'transfers':>9} {'per s':>9} {'CU each':>8}"]
    rows += [f"{f.label:<58} {f.transfers:>9} {f.per_second:>9.0f} {f.compute_units:>8}" for f in figures]
    return "\n".join(rows)


def print_figures(transfers: int = 500) -> list[PaymentFigures]:
    """Measure and print the table; what the ledger benchmark calls."""
    figures = measure(transfers)
    print(format_figures(figures))
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--transfers", type=int, default=500)
    print_figures(parser.parse_args().transfers)


if __name__ == "__main__":
    main()
