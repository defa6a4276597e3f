"""Solana payments from the node's own wallet: SOL or SPL tokens, each with a memo naming what it pays for.

Two backends behind one interface: `LiteSVMBackend` (a real SVM in-process, for tests and the demo)
and `RpcBackend` (any JSON-RPC URL, e.g. a real cluster).
"""

from __future__ import annotations

from djmesh.ledger.solana.addresses import parse_address
from djmesh.ledger.solana.backend import Receipt, SolanaBackend
from djmesh.ledger.solana.errors import (
    ClusterError,
    InsufficientFundsError,
    InvalidAddressError,
    InvalidPaymentError,
    SolanaError,
    TransactionRefusedError,
    WalletError,
)
from djmesh.ledger.solana.litesvm_backend import LiteSVMBackend
from djmesh.ledger.solana.memo import battle_memo, memos_from_logs, voucher_memo
from djmesh.ledger.solana.payments import Payment, SolanaLedger
from djmesh.ledger.solana.rpc_backend import RpcBackend
from djmesh.ledger.solana.wallet import create_wallet, load_wallet, open_wallet, wallet_path

__all__ = [
    "ClusterError",
    "InsufficientFundsError",
    "InvalidAddressError",
    "InvalidPaymentError",
    "LiteSVMBackend",
    "Payment",
    "Receipt",
    "RpcBackend",
    "SolanaBackend",
    "SolanaError",
    "SolanaLedger",
    "TransactionRefusedError",
    "WalletError",
    "battle_memo",
    "create_wallet",
    "load_wallet",
    "memos_from_logs",
    "open_wallet",
    "parse_address",
    "voucher_memo",
    "wallet_path",
]
