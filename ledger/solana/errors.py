"""Solana failures, each a `LedgerError`, so a caller can tell bad input from an empty wallet from a dead cluster."""

from __future__ import annotations

from collections.abc import Sequence

from djmesh.ledger.errors import LedgerError


class SolanaError(LedgerError):
    """Any failure of the Solana ledger."""


class InvalidAddressError(SolanaError, ValueError):
    """A string that is not a base58 public key, or a key that is not the kind of account asked for."""


class InvalidPaymentError(SolanaError, ValueError):
    """An amount, memo or decimals argument that no transaction should be built from."""


class WalletError(SolanaError):
    """The wallet key file is missing, damaged, already there, or the passphrase is wrong."""


class TransactionRefusedError(SolanaError):
    """The chain (or its preflight simulation) refused the transaction; ``logs`` are the program logs."""

    def __init__(self, message: str, *, logs: Sequence[str] = (), error: str = "") -> None:
        super().__init__(message)
        self.logs = tuple(logs)
        self.error = error


class InsufficientFundsError(TransactionRefusedError):
    """The wallet holds too few lamports or tokens for the payment plus its fee."""


class ClusterError(SolanaError):
    """The RPC endpoint could not be reached, answered with an error, or did not confirm in time."""
