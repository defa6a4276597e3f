"""Solana payments from the node's own wallet: SOL or SPL tokens, each with a memo naming what it pays for.

Two backends behind one interface: `LiteSVMBackend` (a real SVM in-process, for tests and the demo)
and `RpcBackend` (any JSON-RPC URL, e.g. a real cluster).

Names are imported when first used (PEP 562): reading ``SolanaConfig`` to learn that no cluster is
configured must not cost solders' and solana-py's quarter second of start-up in every node.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
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

_HOMES = {
    "ClusterError": "djmesh.ledger.solana.errors",
    "InsufficientFundsError": "djmesh.ledger.solana.errors",
    "InvalidAddressError": "djmesh.ledger.solana.errors",
    "InvalidPaymentError": "djmesh.ledger.solana.errors",
    "LiteSVMBackend": "djmesh.ledger.solana.litesvm_backend",
    "Payment": "djmesh.ledger.solana.payments",
    "Receipt": "djmesh.ledger.solana.backend",
    "RpcBackend": "djmesh.ledger.solana.rpc_backend",
    "SolanaBackend": "djmesh.ledger.solana.backend",
    "SolanaError": "djmesh.ledger.solana.errors",
    "SolanaLedger": "djmesh.ledger.solana.payments",
    "TransactionRefusedError": "djmesh.ledger.solana.errors",
    "WalletError": "djmesh.ledger.solana.errors",
    "battle_memo": "djmesh.ledger.solana.memo",
    "create_wallet": "djmesh.ledger.solana.wallet",
    "load_wallet": "djmesh.ledger.solana.wallet",
    "memos_from_logs": "djmesh.ledger.solana.memo",
    "open_wallet": "djmesh.ledger.solana.wallet",
    "parse_address": "djmesh.ledger.solana.addresses",
    "voucher_memo": "djmesh.ledger.solana.memo",
    "wallet_path": "djmesh.ledger.solana.wallet",
}

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


def __getattr__(name: str) -> Any:
    try:
        home = _HOMES[name]
    except KeyError:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None
    value = getattr(importlib.import_module(home), name)
    globals()[name] = value
    return value
