"""The JSON-RPC backend, end to end over HTTP, against a loopback stand-in for a cluster (none is reachable here).

What is real: solana-py's AsyncClient, HTTP on loopback, the JSON-RPC wire format (built from
solders' response types), the signed transaction bytes, and the SVM that executes them. What is not:
the stand-in is no validator (no consensus, no real commitment levels, no rate limits), so timing
and confirmation behaviour of a real cluster are not covered.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from solders.keypair import Keypair
from solders.litesvm import LiteSVM
from solders.signature import Signature
from solders.transaction import Transaction

from djmesh.ledger.solana import (
    ClusterError,
    InsufficientFundsError,
    LiteSVMBackend,
    RpcBackend,
    SolanaLedger,
    battle_memo,
    instructions,
    voucher_memo,
)
from tests.ledger.solana.rpc_stand_in import SolanaRpcStandIn


@pytest.fixture
async def cluster() -> AsyncIterator[SolanaRpcStandIn]:
    stand_in = SolanaRpcStandIn()
    await stand_in.start()
    yield stand_in
    await stand_in.stop()


@pytest.fixture
async def rpc(cluster: SolanaRpcStandIn) -> AsyncIterator[RpcBackend]:
    backend = RpcBackend(cluster.url, commitment="confirmed", poll_interval_s=0.01)
    yield backend
    await backend.aclose()


async def test_payments_over_rpc_are_confirmed_and_read_back(
    cluster: SolanaRpcStandIn, rpc: RpcBackend
) -> None:
    ledger = SolanaLedger(rpc, Keypair())
    dj = Keypair().pubkey()
    assert await ledger.airdrop(1_000_000_000) == 1_000_000_000

    payment = await ledger.pay_sol(dj, 4_000_000, battle_memo(b"\xbe\xef"))
    assert (payment.amount, payment.memo, payment.fee) == (4_000_000, "djmesh battle beef", 5000)
    assert cluster.svm.get_balance(dj) == 4_000_000
    assert {"sendTransaction", "getSignatureStatuses", "getTransaction"} <= set(cluster.calls)

    mint = await ledger.create_mint(decimals=3)
    assert await ledger.mint_to(mint, ledger.address, 9_000) == 9_000
    token_payment = await ledger.pay_token(mint, dj, 2_500, 3, voucher_memo("c9", 2_500))
    assert (token_payment.amount, token_payment.memo) == (2_500, "djmesh voucher c9:2500")
    assert await ledger.token_balance(mint, dj) == 2_500
    assert await ledger.read_memos(token_payment.signature) == ["djmesh voucher c9:2500"]


async def test_preflight_refusal_over_rpc_is_insufficient_funds(
    cluster: SolanaRpcStandIn, rpc: RpcBackend
) -> None:
    ledger = SolanaLedger(rpc, Keypair())
    await ledger.airdrop(10_000_000)
    dj = Keypair().pubkey()
    with pytest.raises(InsufficientFundsError, match="insufficient lamports"):
        await ledger.pay_sol(dj, 50_000_000, "djmesh voucher c:50000000")
    assert cluster.svm.get_balance(ledger.address) == 10_000_000


async def test_one_signed_transaction_gives_the_same_record_on_both_backends(rpc: RpcBackend) -> None:
    """The bytes sent over RPC are the transaction built once; executed in-process they give the same record."""
    payer, dj = Keypair(), Keypair().pubkey()
    built = instructions.sol_payment(payer.pubkey(), dj, 2_000_000, "djmesh voucher c:2000000")
    # The in-process SVM skips the blockhash check so it can take the cluster's blockhash unchanged.
    local = LiteSVMBackend(LiteSVM().with_blockhash_check(False))
    local.svm.airdrop(payer.pubkey(), 100_000_000)
    await rpc.airdrop(payer.pubkey(), 100_000_000)
    transaction = instructions.sign(built, payer, await rpc.latest_blockhash())

    raw, opts = rpc.encode(transaction)
    assert Transaction.from_bytes(raw) == transaction
    assert transaction.verify_with_results() == [True]
    assert not opts.skip_preflight

    over_rpc = await rpc.submit(transaction)
    in_process = await local.submit(transaction)
    assert over_rpc.signature == in_process.signature == transaction.signatures[0]
    assert over_rpc.logs == in_process.logs
    assert over_rpc.memos == ["djmesh voucher c:2000000"]
    assert over_rpc.compute_units == in_process.compute_units
    assert over_rpc.fee == in_process.fee
    assert over_rpc.lamports[dj] == in_process.lamports[dj] == (0, 2_000_000)
    assert await rpc.lookup(Signature.default()) is None


async def test_unreachable_cluster_is_a_cluster_error() -> None:
    backend = RpcBackend("http://127.0.0.1:9", timeout_s=2)
    try:
        with pytest.raises(ClusterError, match="getLatestBlockhash failed"):
            await backend.latest_blockhash()
        with pytest.raises(ClusterError, match="getBalance failed"):
            await backend.balance(Keypair().pubkey())
    finally:
        await backend.aclose()


def test_processed_commitment_is_refused() -> None:
    with pytest.raises(ValueError, match="confirmed"):
        RpcBackend("http://127.0.0.1:9", commitment="processed")
