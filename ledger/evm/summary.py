"""What a wallet holds on the chain, read without unlocking it.

Shared by `djmesh wallet balance|channels` and the TUI's Wallet screen, so both count the same way.
Amounts are wei as decimal strings (they do not fit a JSON double).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from djmesh.ledger.evm.chain import EvmChain
from djmesh.ledger.evm.channels import ListenChannels
from djmesh.ledger.evm.config import LedgerConfig, LedgerConfigError
from djmesh.ledger.evm.escrow import Escrow
from djmesh.ledger.evm.sender import TxSender

if TYPE_CHECKING:
    from eth_account.signers.local import LocalAccount


class LedgerContracts:
    """The configured contracts (either may be absent), bound read-only or to a sender."""

    def __init__(self, chain: EvmChain, config: LedgerConfig, account: LocalAccount | None = None) -> None:
        sender = TxSender(chain, account) if account is not None else None
        self.from_block = config.from_block
        self.escrow: Escrow | None = Escrow(chain, config.escrow, sender) if config.escrow else None
        self.channels: ListenChannels | None = (
            ListenChannels(chain, config.listen_channel, sender) if config.listen_channel else None
        )

    def need_channels(self) -> ListenChannels:
        if self.channels is None:
            raise LedgerConfigError(
                "set listen_channel (the ListenChannel address) in the [ledger] table of config.toml"
            )
        return self.channels


def connect_configured(config: LedgerConfig) -> EvmChain:
    """The configured chain; a clear error when config.toml does not name one."""
    if not config.rpc_url:
        raise LedgerConfigError("no chain configured: set rpc_url in the [ledger] table of config.toml")
    if not config.chain_id:
        raise LedgerConfigError("set chain_id in the [ledger] table of config.toml")
    return EvmChain.connect(
        config.rpc_url,
        chain_id=config.chain_id,
        confirmations=config.confirmations,
        tx_timeout_s=config.tx_timeout_s,
    )


def channel_rows(contracts: LedgerContracts, address: str, now: int) -> list[dict[str, Any]]:
    """Every listen channel ``address`` pays (role listener) or is paid by (role payee)."""
    if contracts.channels is None:
        return []
    rows = []
    for role, terms in contracts.channels.channels_of(address, from_block=contracts.from_block):
        state = "closed" if terms.closed else ("expired" if now >= terms.expires_at else "open")
        rows.append(
            {
                "channel": terms.channel_id,
                "role": role,
                "counterparty": terms.payee if role == "listener" else terms.listener,
                "deposit_wei": str(terms.deposit),
                "paid_wei": str(terms.paid),
                "expires_at": terms.expires_at,
                "state": state,
            }
        )
    return rows


def refundable_battles(contracts: LedgerContracts, address: str, now: int) -> list[tuple[bytes, int]]:
    """Battles past their deadline, never settled, where ``address`` still has a stake."""
    if contracts.escrow is None:
        return []
    out = []
    for battle_id in contracts.escrow.battles_staked_by(address, from_block=contracts.from_block):
        battle = contracts.escrow.battle(battle_id)
        stake = contracts.escrow.stake_of(battle_id, address)
        if battle is not None and not battle.settled and now >= battle.deadline and stake > 0:
            out.append((battle_id, stake))
    return out


def balance_summary(
    chain: EvmChain, contracts: LedgerContracts, address: str, rows: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    """`djmesh wallet balance --json`: ETH held, locked in open channels, and withdrawable now."""
    now = chain.timestamp()
    balance = chain.balance(address)
    owed = sum(c.owed(address) for c in (contracts.escrow, contracts.channels) if c is not None)
    in_channels = reclaimable = 0
    for row in channel_rows(contracts, address, now) if rows is None else rows:
        if row["role"] != "listener" or row["state"] == "closed":
            continue
        left = int(row["deposit_wei"]) - int(row["paid_wei"])
        if row["state"] == "expired":
            reclaimable += left
        else:
            in_channels += left
    refundable = sum(stake for _, stake in refundable_battles(contracts, address, now))
    return {
        "address": address,
        "chain_id": chain.chain_id,
        "balance_wei": str(balance),
        "in_channels_wei": str(in_channels),
        "withdrawable_wei": str(owed + reclaimable + refundable),
    }


def wallet_summary(config: LedgerConfig, address: str) -> dict[str, Any]:
    """The balance summary plus ``channels`` (the channel rows), in one pass over the chain."""
    chain = connect_configured(config)
    contracts = LedgerContracts(chain, config)
    rows = channel_rows(contracts, address, chain.timestamp())
    return {**balance_summary(chain, contracts, address, rows), "channels": rows}
