"""EVM ledger errors, all `LedgerError` (ledger/errors.py); each message is meant for the user as it stands (the CLI prints it on one line)."""

from __future__ import annotations

from djmesh.ledger.errors import LedgerError

__all__ = [
    "ChainMismatchError",
    "ChainUnreachableError",
    "LedgerError",
    "TransactionFailedError",
    "VoucherRefusedError",
    "WalletError",
]


class ChainUnreachableError(LedgerError):
    """No EVM JSON-RPC node answers at the configured URL."""


class ChainMismatchError(LedgerError):
    """The node answers for another chain than the configured chain ID."""


class TransactionFailedError(LedgerError):
    """The chain refused a transaction (the contract's revert reason when there is one)."""


class WalletError(LedgerError):
    """The keystore is missing, unreadable, or the passphrase is wrong."""


class VoucherRefusedError(LedgerError):
    """A voucher the DJ must not accept; ``reason`` is short and stable (logged and shown)."""

    def __init__(self, reason: str) -> None:
        super().__init__(f"voucher refused: {reason}")
        self.reason = reason
