"""The read-only ``wallet`` control method, and the read behind it (shared with the TUI's in-process node).

``wallet {}``: ``{address, solana_address, chain_id, balance_wei, in_channels_wei, withdrawable_wei,
channels}`` as `djmesh wallet balance --json` and `channels --json` compute them. Nothing here needs
the wallet's passphrase: addresses are read from the key files' public parts.
"""

from __future__ import annotations

import asyncio
from typing import Any

from djmesh.node.control_params import Handler
from djmesh.node.errors import ControlError
from djmesh.node.home import NodeHome
from djmesh.node.node import Node


def solana_address(home: NodeHome) -> str | None:
    """The Solana wallet's address (base58), or None when this home has no Solana wallet."""
    from solders.pubkey import Pubkey

    from djmesh.ledger.solana.wallet import wallet_path, wallet_public_key

    path = wallet_path(home.root)
    return str(Pubkey.from_bytes(wallet_public_key(path))) if path.exists() else None


def read_wallet(home: NodeHome) -> dict[str, Any]:
    """Blocking (web3): run it in a thread. A ``LedgerError`` says what is missing or unreachable."""
    from djmesh.ledger.evm import LedgerConfig, keystore_path, read_address
    from djmesh.ledger.evm.errors import WalletError
    from djmesh.ledger.evm.summary import wallet_summary

    config = LedgerConfig.load(home.config_file)
    if not config.rpc_url:
        raise WalletError(
            "the ledger is not configured: set rpc_url and chain_id in the [ledger] table of config.toml"
        )
    keystore = keystore_path(home.root)
    if not keystore.exists():
        raise WalletError(f"no EVM wallet yet at {keystore}: create one with `djmesh wallet address`")
    summary = wallet_summary(config, read_address(keystore))
    return {**summary, "solana_address": solana_address(home)}


async def wallet_json(home: NodeHome) -> dict[str, Any]:
    """``read_wallet`` off the event loop; what stops it (no chain, no wallet, unreachable) is a
    ``ControlError`` with one line that says so."""
    from djmesh.ledger.errors import LedgerError
    from djmesh.node.identity import IdentityError

    try:
        return await asyncio.to_thread(read_wallet, home)
    except (LedgerError, IdentityError, OSError) as exc:
        raise ControlError(str(exc)) from exc


async def _wallet(node: Node, params: dict[str, Any]) -> Any:
    return await wallet_json(node.home)


WALLET_METHODS: dict[str, Handler] = {"wallet": _wallet}
