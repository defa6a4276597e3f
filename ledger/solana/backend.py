"""What a Solana backend does, what it reports back, and how a refused transaction becomes an error.

A backend sends a signed transaction and reports what the chain recorded for it: program logs,
compute units, fee, and every account's lamports (and token amount) before and after. Payments
compute the figures they report from these records, never from the arguments they were given.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from solders.account import Account
from solders.hash import Hash
from solders.pubkey import Pubkey
from solders.signature import Signature
from solders.system_program import ID as SYSTEM_PROGRAM_ID
from solders.transaction import Transaction
from solders.transaction_status import (
    InstructionErrorCustom,
    TransactionErrorFieldless,
    TransactionErrorInstructionError,
    TransactionErrorInsufficientFundsForRent,
    TransactionErrorType,
)
from spl.token.constants import ASSOCIATED_TOKEN_PROGRAM_ID, TOKEN_PROGRAM_ID

from djmesh.ledger.solana.errors import InsufficientFundsError, TransactionRefusedError
from djmesh.ledger.solana.memo import memos_from_logs

# Custom error 1 is "insufficient funds" in the system program (ResultWithNegativeLamports) and in
# SPL Token (TokenError::InsufficientFundsError); the associated-token program passes the system
# program's error through when the payer cannot fund a new account's rent.
_INSUFFICIENT_FUNDS_CODE = 1
_SHORT_OF = {
    SYSTEM_PROGRAM_ID: "lamports",
    TOKEN_PROGRAM_ID: "tokens",
    ASSOCIATED_TOKEN_PROGRAM_ID: "lamports to open the recipient's token account",
}
_NO_FEE_ERRORS = (
    TransactionErrorFieldless.InsufficientFundsForFee,
    TransactionErrorFieldless.AccountNotFound,
)


@dataclass(frozen=True)
class Receipt:
    """One transaction as the chain recorded it.

    ``lamports`` and ``token_amounts`` map an account (a token account for the latter) to its
    (before, after) values; they are empty when the backend cannot know them (LiteSVM's history
    keeps only logs, compute units and fee for an old transaction).
    """

    signature: Signature
    logs: tuple[str, ...]
    compute_units: int
    fee: int
    lamports: Mapping[Pubkey, tuple[int, int]] = field(default_factory=dict)
    token_amounts: Mapping[Pubkey, tuple[int, int]] = field(default_factory=dict)
    error: str | None = None

    @property
    def memos(self) -> list[str]:
        return memos_from_logs(self.logs)

    def lamports_received(self, account: Pubkey) -> int:
        before, after = self.lamports.get(account, (0, 0))
        return after - before

    def tokens_received(self, token_account: Pubkey) -> int:
        before, after = self.token_amounts.get(token_account, (0, 0))
        return after - before


class SolanaBackend(Protocol):
    """One interface over LiteSVM in-process and a JSON-RPC cluster."""

    @property
    def name(self) -> str: ...

    async def latest_blockhash(self) -> Hash: ...

    async def submit(self, transaction: Transaction) -> Receipt:
        """Send, wait until it lands at the backend's commitment, and read back its record.

        Raises `TransactionRefusedError` (`InsufficientFundsError` for a short wallet) when preflight or the
        chain refuses it; with preflight on, a refused transaction costs no fee.
        """
        ...

    async def lookup(self, signature: Signature) -> Receipt | None: ...

    async def balance(self, address: Pubkey) -> int: ...

    async def account(self, address: Pubkey) -> Account | None: ...

    async def rent_exempt_minimum(self, size: int) -> int: ...

    async def airdrop(self, address: Pubkey, lamports: int) -> None:
        """Free SOL where the chain gives it (LiteSVM, a test validator, devnet); refused elsewhere."""
        ...

    async def aclose(self) -> None: ...


def failure(
    error: TransactionErrorType, logs: Sequence[str], transaction: Transaction
) -> TransactionRefusedError:
    """The exception for a refused transaction, naming the cause in words a payer understands."""
    message = transaction.message
    payer = message.account_keys[0]
    detail = _detail_from_logs(logs) or str(error)
    if error in _NO_FEE_ERRORS:
        return InsufficientFundsError(
            f"wallet {payer} has no SOL to pay the transaction fee", logs=logs, error=str(error)
        )
    if isinstance(error, TransactionErrorInsufficientFundsForRent):
        account = message.account_keys[error.account_index]
        if account == payer:
            return InsufficientFundsError(
                f"wallet {payer} would fall below its rent-exempt minimum", logs=logs, error=str(error)
            )
        return TransactionRefusedError(
            f"account {account} would be left below the rent-exempt minimum; send it more",
            logs=logs,
            error=str(error),
        )
    if isinstance(error, TransactionErrorInstructionError):
        instruction = message.instructions[error.index]
        program = message.account_keys[instruction.program_id_index]
        inner = error.err
        if (
            isinstance(inner, InstructionErrorCustom)
            and inner.code == _INSUFFICIENT_FUNDS_CODE
            and program in _SHORT_OF
        ):
            short_of = _SHORT_OF[program]
            return InsufficientFundsError(
                f"wallet {payer} has too few {short_of}: {detail}", logs=logs, error=str(error)
            )
        return TransactionRefusedError(
            f"instruction {error.index} ({program}) failed: {detail}", logs=logs, error=str(error)
        )
    return TransactionRefusedError(f"transaction refused: {detail}", logs=logs, error=str(error))


def _detail_from_logs(logs: Sequence[str]) -> str:
    """The program's own words about the failure (e.g. ``Transfer: insufficient lamports 10, need 20``)."""
    for line in logs:
        if line.startswith("Program log: Error: "):
            return line.removeprefix("Program log: Error: ")
        if not line.startswith("Program ") and line:
            return line
    for line in reversed(logs):
        if " failed: " in line:
            return line.split(" failed: ", 1)[1]
    return ""
