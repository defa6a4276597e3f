"""The EVM side of the ledger: contracts clients, vouchers, wallet and dev chains (see ledger/README.md).

Everything here blocks (web3 is synchronous); the asyncio node calls it with ``asyncio.to_thread``.
`vouchers` and `eip712` do no I/O at all.
"""

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
