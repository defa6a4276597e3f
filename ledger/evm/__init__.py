"""The EVM side of the ledger: contracts clients, vouchers, wallet and dev chains (see ledger/README.md).

Everything here blocks (web3 is synchronous); the asyncio node calls it with ``asyncio.to_thread``.
`vouchers` and `eip712` do no I/O at all.

Names are imported when first used (PEP 562): reading ``LedgerConfig`` to learn that no chain is
configured must not cost web3's second of start-up in every node.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from djmesh.ledger.evm.attest import attest_bundle
    from djmesh.ledger.evm.chain import EvmChain
    from djmesh.ledger.evm.channels import ListenChannels
    from djmesh.ledger.evm.config import LedgerConfig, LedgerConfigError
    from djmesh.ledger.evm.deploy import Deployment, deploy_contracts
    from djmesh.ledger.evm.eip712 import Domain, Signature
    from djmesh.ledger.evm.errors import (
        ChainMismatchError,
        ChainUnreachableError,
        LedgerError,
        TransactionFailedError,
        VoucherRefusedError,
        WalletError,
    )
    from djmesh.ledger.evm.escrow import Attestation, Escrow, EscrowBattle, quorum, sign_result
    from djmesh.ledger.evm.keystore import create_keystore, keystore_path, load_account, read_address
    from djmesh.ledger.evm.sender import TxSender
    from djmesh.ledger.evm.vouchers import ChannelTerms, Voucher, VoucherBook, VoucherIssuer, sign_voucher

_HOMES = {
    "attest_bundle": "djmesh.ledger.evm.attest",
    "EvmChain": "djmesh.ledger.evm.chain",
    "ListenChannels": "djmesh.ledger.evm.channels",
    "LedgerConfig": "djmesh.ledger.evm.config",
    "LedgerConfigError": "djmesh.ledger.evm.config",
    "Deployment": "djmesh.ledger.evm.deploy",
    "deploy_contracts": "djmesh.ledger.evm.deploy",
    "Domain": "djmesh.ledger.evm.eip712",
    "Signature": "djmesh.ledger.evm.eip712",
    "ChainMismatchError": "djmesh.ledger.evm.errors",
    "ChainUnreachableError": "djmesh.ledger.evm.errors",
    "LedgerError": "djmesh.ledger.evm.errors",
    "TransactionFailedError": "djmesh.ledger.evm.errors",
    "VoucherRefusedError": "djmesh.ledger.evm.errors",
    "WalletError": "djmesh.ledger.evm.errors",
    "Attestation": "djmesh.ledger.evm.escrow",
    "Escrow": "djmesh.ledger.evm.escrow",
    "EscrowBattle": "djmesh.ledger.evm.escrow",
    "quorum": "djmesh.ledger.evm.escrow",
    "sign_result": "djmesh.ledger.evm.escrow",
    "create_keystore": "djmesh.ledger.evm.keystore",
    "keystore_path": "djmesh.ledger.evm.keystore",
    "load_account": "djmesh.ledger.evm.keystore",
    "read_address": "djmesh.ledger.evm.keystore",
    "TxSender": "djmesh.ledger.evm.sender",
    "ChannelTerms": "djmesh.ledger.evm.vouchers",
    "Voucher": "djmesh.ledger.evm.vouchers",
    "VoucherBook": "djmesh.ledger.evm.vouchers",
    "VoucherIssuer": "djmesh.ledger.evm.vouchers",
    "sign_voucher": "djmesh.ledger.evm.vouchers",
}

__all__ = [
    "Attestation",
    "ChainMismatchError",
    "ChainUnreachableError",
    "ChannelTerms",
    "Deployment",
    "Domain",
    "Escrow",
    "EscrowBattle",
    "EvmChain",
    "LedgerConfig",
    "LedgerConfigError",
    "LedgerError",
    "ListenChannels",
    "Signature",
    "TransactionFailedError",
    "TxSender",
    "Voucher",
    "VoucherBook",
    "VoucherIssuer",
    "VoucherRefusedError",
    "WalletError",
    "attest_bundle",
    "create_keystore",
    "deploy_contracts",
    "keystore_path",
    "load_account",
    "quorum",
    "read_address",
    "sign_result",
    "sign_voucher",
]


def __getattr__(name: str) -> Any:
    try:
        home = _HOMES[name]
    except KeyError:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None
    value = getattr(importlib.import_module(home, __name__), name)
    globals()[name] = value
    return value
