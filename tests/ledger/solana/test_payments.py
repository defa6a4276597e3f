"""Paying a DJ from the node's wallet on a real SVM: the money and the memo are on chain, bad payments are not."""

from __future__ import annotations

import dataclasses

import pytest
from solders.keypair import Keypair
from solders.pubkey import Pubkey
from solders.signature import Signature

from djmesh.ledger.solana import (
    InsufficientFundsError,
    InvalidAddressError,
    InvalidPaymentError,
    LiteSVMBackend,
    SolanaLedger,
    TransactionRefusedError,
    battle_memo,
    voucher_memo,
)
from djmesh.ledger.solana.instructions import token_account
from tests.ledger.solana.conftest import ONE_SOL

BATTLE_ID = bytes.fromhex("5eed00c0ffee")


async def test_sol_payment_arrives_with_its_memo_on_chain(
    backend: LiteSVMBackend, node_wallet: SolanaLedger, dj: Pubkey
) -> None:
    payer_before = await node_wallet.sol_balance()
    memo = battle_memo(BATTLE_ID)

    payment = await node_wallet.pay_sol(str(dj), 3_000_000, memo)

    assert memo == "djmesh battle 5eed00c0ffee"
    assert await node_wallet.sol_balance(dj) == 3_000_000
    assert await node_wallet.sol_balance() == payer_before - 3_000_000 - payment.fee
    assert (payment.amount, payment.memo, payment.recipient) == (3_000_000, memo, str(dj))
    assert payment.fee == 5000  # one signature at the default 5,000 lamports
    assert payment.compute_units > 0
    # Read back independently: the chain's transaction history holds the memo.
    assert await node_wallet.read_memos(payment.signature) == [memo]
    receipt = await backend.lookup(Signature.from_string(payment.signature))
    assert receipt is not None and receipt.compute_units == payment.compute_units


async def test_two_identical_payments_are_two_transactions(node_wallet: SolanaLedger, dj: Pubkey) -> None:
    memo = voucher_memo("chan7", 1_000_000)
    first = await node_wallet.pay_sol(dj, 1_000_000, memo)
    second = await node_wallet.pay_sol(dj, 1_000_000, memo)
    assert first.signature != second.signature
    assert await node_wallet.sol_balance(dj) == 2_000_000


async def test_token_payment_opens_the_djs_token_account(node_wallet: SolanaLedger, dj: Pubkey) -> None:
    mint = await node_wallet.create_mint(decimals=6)
    assert await node_wallet.mint_to(mint, node_wallet.address, 5_000_000) == 5_000_000
    assert await node_wallet.backend.account(token_account(dj, mint)) is None

    memo = voucher_memo("chan7", 1_250_000)
    first = await node_wallet.pay_token(str(mint), str(dj), 1_250_000, 6, memo)

    assert await node_wallet.backend.account(token_account(dj, mint)) is not None
    assert await node_wallet.token_balance(mint, dj) == 1_250_000
    assert await node_wallet.token_balance(mint) == 3_750_000
    assert (first.asset, first.amount, first.memo) == (str(mint), 1_250_000, memo)
    assert await node_wallet.read_memos(first.signature) == [memo]

    # The account now exists: the second payment skips opening it and costs fewer compute units.
    second = await node_wallet.pay_token(mint, dj, 750_000, 6, battle_memo(BATTLE_ID))
    assert await node_wallet.token_balance(mint, dj) == 2_000_000
    assert second.compute_units < first.compute_units


async def test_short_wallet_is_refused_and_nothing_moves(node_wallet: SolanaLedger, dj: Pubkey) -> None:
    payer_before = await node_wallet.sol_balance()
    with pytest.raises(InsufficientFundsError, match="too few lamports") as refused:
        await node_wallet.pay_sol(dj, 5 * ONE_SOL, battle_memo(BATTLE_ID))
    assert "insufficient lamports" in str(refused.value)
    assert await node_wallet.sol_balance() == payer_before  # not even the fee
    assert await node_wallet.sol_balance(dj) == 0


async def test_short_token_balance_is_refused_and_nothing_moves(
    node_wallet: SolanaLedger, dj: Pubkey
) -> None:
    mint = await node_wallet.create_mint(decimals=2)
    await node_wallet.mint_to(mint, node_wallet.address, 100)
    await node_wallet.pay_token(mint, dj, 1, 2, "djmesh voucher c:1")
    sol_before = await node_wallet.sol_balance()
    with pytest.raises(InsufficientFundsError, match="too few tokens"):
        await node_wallet.pay_token(mint, dj, 100, 2, "djmesh voucher c:100")
    assert (await node_wallet.token_balance(mint), await node_wallet.token_balance(mint, dj)) == (99, 1)
    assert await node_wallet.sol_balance() == sol_before


async def test_wallet_without_sol_cannot_pay_fees(backend: LiteSVMBackend, dj: Pubkey) -> None:
    empty = SolanaLedger(backend, Keypair())
    with pytest.raises(InsufficientFundsError, match="no SOL to pay the transaction fee"):
        await empty.pay_sol(dj, 1_000_000, "djmesh voucher c:1")


async def test_wallet_without_rent_for_the_djs_token_account_is_refused(
    backend: LiteSVMBackend, node_wallet: SolanaLedger, dj: Pubkey
) -> None:
    mint = await node_wallet.create_mint(decimals=0)
    poor = SolanaLedger(backend, Keypair())
    await poor.airdrop(1_000_000)
    await node_wallet.mint_to(mint, poor.address, 10)
    with pytest.raises(InsufficientFundsError, match="open the recipient's token account"):
        await poor.pay_token(mint, dj, 5, 0, "djmesh voucher c:5")
    assert await poor.token_balance(mint) == 10
    assert await poor.sol_balance() == 1_000_000


async def test_wallet_without_the_token_is_refused(node_wallet: SolanaLedger, dj: Pubkey) -> None:
    mint = await node_wallet.create_mint(decimals=0)
    with pytest.raises(InsufficientFundsError, match="holds no tokens"):
        await node_wallet.pay_token(mint, dj, 1, 0, "djmesh voucher c:1")


@pytest.mark.parametrize("address", ["", "not-an-address", "0OIl" * 11, "11111111111111111111111111111111x"])
async def test_invalid_recipient_is_refused(node_wallet: SolanaLedger, address: str) -> None:
    with pytest.raises(InvalidAddressError, match="recipient"):
        await node_wallet.pay_sol(address, 1_000_000, "djmesh voucher c:1")


async def test_wrong_mint_or_decimals_is_refused(node_wallet: SolanaLedger, dj: Pubkey) -> None:
    mint = await node_wallet.create_mint(decimals=6)
    await node_wallet.mint_to(mint, node_wallet.address, 10)
    with pytest.raises(InvalidPaymentError, match="has 6 decimals, not 9"):
        await node_wallet.pay_token(mint, dj, 1, 9, "djmesh voucher c:1")
    with pytest.raises(InvalidAddressError, match="not an SPL token mint"):
        await node_wallet.pay_token(dj, dj, 1, 6, "djmesh voucher c:1")
    with pytest.raises(InvalidAddressError, match="mint"):
        await node_wallet.pay_token("xyz", dj, 1, 6, "djmesh voucher c:1")
    with pytest.raises(InvalidAddressError, match="is a token account"):
        await node_wallet.pay_token(
            mint, token_account(node_wallet.address, mint), 1, 6, "djmesh voucher c:1"
        )


@pytest.mark.parametrize("lamports", [0, -5, 2**64, True])
async def test_nonsense_amounts_are_refused(node_wallet: SolanaLedger, dj: Pubkey, lamports: int) -> None:
    with pytest.raises(InvalidPaymentError, match="lamports"):
        await node_wallet.pay_sol(dj, lamports, "djmesh voucher c:1")


@pytest.mark.parametrize("memo", ["", "line\nbreak", "x" * 257])
async def test_memos_that_would_not_read_back_are_refused(
    node_wallet: SolanaLedger, dj: Pubkey, memo: str
) -> None:
    with pytest.raises(InvalidPaymentError, match="memo"):
        await node_wallet.pay_sol(dj, 1_000_000, memo)


async def test_first_payment_below_rent_minimum_is_refused(node_wallet: SolanaLedger, dj: Pubkey) -> None:
    before = await node_wallet.sol_balance()
    with pytest.raises(InvalidPaymentError, match="rent-exempt minimum"):
        await node_wallet.pay_sol(dj, 1000, "djmesh voucher c:1000")
    assert await node_wallet.sol_balance() == before


async def test_a_node_cannot_pay_itself(node_wallet: SolanaLedger) -> None:
    with pytest.raises(InvalidPaymentError, match="cannot pay itself"):
        await node_wallet.pay_sol(node_wallet.address, 1_000_000, "djmesh voucher c:1")


async def test_chain_report_reads_every_payment_back_by_signature(
    node_wallet: SolanaLedger, dj: Pubkey
) -> None:
    mint = await node_wallet.create_mint(decimals=0)
    await node_wallet.mint_to(mint, node_wallet.address, 50)
    paid = [
        await node_wallet.pay_sol(dj, 2_000_000, battle_memo(BATTLE_ID)),
        await node_wallet.pay_token(mint, dj, 20, 0, voucher_memo("c1", 20)),
        await node_wallet.pay_sol(dj, 1_000_000, voucher_memo("c1", 1_000_000)),
    ]
    report = await node_wallet.chain_report(paid)
    assert report["signatures"] == [payment.signature for payment in paid]
    assert [entry["memo"] for entry in report["payments"]] == [
        "djmesh battle 5eed00c0ffee",
        "djmesh voucher c1:20",
        "djmesh voucher c1:1000000",
    ]
    assert report["balances"] == {str(dj): {"SOL": 3_000_000, str(mint): 20}}
    assert report["payer_lamports"] == await node_wallet.sol_balance()
    forged = dataclasses.replace(paid[0], signature=str(Signature.default()))
    with pytest.raises(TransactionRefusedError, match="not a confirmed transaction"):
        await node_wallet.chain_report([forged])
