"""Solana in-process: a real SVM (LiteSVM, with the SPL Token, associated-token and Memo programs).

Used by the tests and the demo. Every transaction is simulated first, as a cluster's preflight
does, so a refused payment costs no fee. Reads and the send happen without an ``await`` in
between, so the before/after balances in a receipt belong to that transaction alone.
"""

from __future__ import annotations

from collections.abc import Sequence

from solders.account import Account
from solders.hash import Hash
from solders.litesvm import LiteSVM
from solders.pubkey import Pubkey
from solders.signature import Signature
from solders.token.state import TokenAccount
from solders.transaction import Transaction
from solders.transaction_metadata import FailedTransactionMetadata
from spl.token.constants import TOKEN_PROGRAM_ID

from djmesh.ledger.solana.backend import Receipt, failure
from djmesh.ledger.solana.errors import TransactionRefusedError

TOKEN_ACCOUNT_SIZE = 165


class LiteSVMBackend:
    def __init__(
        self, svm: LiteSVM | None = None, *, preflight: bool = True, fresh_blockhash: bool = True
    ) -> None:
        """``fresh_blockhash`` starts a new "block" for every transaction, as a live chain would, so two
        identical payments in a row are two transactions rather than a duplicate."""
        self.svm = svm if svm is not None else LiteSVM()
        self.preflight = preflight
        self.fresh_blockhash = fresh_blockhash

    @property
    def name(self) -> str:
        return "litesvm"

    async def latest_blockhash(self) -> Hash:
        if self.fresh_blockhash:
            self.svm.expire_blockhash()
        return self.svm.latest_blockhash()

    async def submit(self, transaction: Transaction) -> Receipt:
        return self.submit_now(transaction)

    def submit_now(self, transaction: Transaction) -> Receipt:
        """`submit` without the event loop, for the benchmark's tight loop."""
        keys = list(transaction.message.account_keys)
        before = self._snapshot(keys)
        if self.preflight:
            simulated = self.svm.simulate_transaction(transaction)
            if isinstance(simulated, FailedTransactionMetadata):
                raise failure(simulated.err(), simulated.meta().logs(), transaction)
        result = self.svm.send_transaction(transaction)
        if isinstance(result, FailedTransactionMetadata):
            raise failure(result.err(), result.meta().logs(), transaction)
        after = self._snapshot(keys)
        return Receipt(
            signature=result.signature(),
            logs=tuple(result.logs()),
            compute_units=result.compute_units_consumed(),
            fee=result.fee(),
            lamports={key: (before[key][0], after[key][0]) for key in keys},
            token_amounts={
                key: (before[key][1] or 0, after[key][1] or 0)
                for key in keys
                if before[key][1] is not None or after[key][1] is not None
            },
        )

    async def lookup(self, signature: Signature) -> Receipt | None:
        result = self.svm.get_transaction(signature)
        if result is None:
            return None
        if isinstance(result, FailedTransactionMetadata):
            meta = result.meta()
            return Receipt(
                signature=signature,
                logs=tuple(meta.logs()),
                compute_units=meta.compute_units_consumed(),
                fee=meta.fee(),
                error=str(result.err()),
            )
        return Receipt(
            signature=signature,
            logs=tuple(result.logs()),
            compute_units=result.compute_units_consumed(),
            fee=result.fee(),
        )

    async def balance(self, address: Pubkey) -> int:
        return self.svm.get_balance(address) or 0

    async def account(self, address: Pubkey) -> Account | None:
        return self.svm.get_account(address)

    async def rent_exempt_minimum(self, size: int) -> int:
        return self.svm.minimum_balance_for_rent_exemption(size)

    async def airdrop(self, address: Pubkey, lamports: int) -> None:
        result = self.svm.airdrop(address, lamports)
        if isinstance(result, FailedTransactionMetadata):
            raise TransactionRefusedError(
                f"airdrop of {lamports} lamports to {address} failed: {result.err()}"
            )

    async def aclose(self) -> None:
        return None

    def _snapshot(self, keys: Sequence[Pubkey]) -> dict[Pubkey, tuple[int, int | None]]:
        """Each account's lamports and, for an SPL token account, its token amount."""
        snapshot: dict[Pubkey, tuple[int, int | None]] = {}
        for key in keys:
            account = self.svm.get_account(key)
            if account is None:
                snapshot[key] = (0, None)
                continue
            amount = None
            if account.owner == TOKEN_PROGRAM_ID and len(account.data) == TOKEN_ACCOUNT_SIZE:
                amount = TokenAccount.from_bytes(account.data).amount
            snapshot[key] = (account.lamports, amount)
        return snapshot
