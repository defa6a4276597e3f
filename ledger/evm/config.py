"""The ``[ledger]`` table of the node's config.toml: which EVM chain, and where the contracts are.

    [ledger]
    rpc_url = "http://127.0.0.1:8545"
    chain_id = 31337
    confirmations = 1
    escrow = "0x..."            # BattleEscrow
    listen_channel = "0x..."    # ListenChannel
    from_block = 0              # where to start scanning events (the deployment block)
    tx_timeout_s = 120.0

or, as `djmesh devnet --json` prints them, the contracts by name (copy ``rpc_url``, ``chain_id`` and
``contracts`` from its JSON line):

    [ledger]
    rpc_url = "http://127.0.0.1:8545"
    chain_id = 31337
    contracts = { BattleEscrow = "0x...", ListenChannel = "0x...", ListenGate = "0x..." }

Contract names this node does not use are ignored (a newer devnet may deploy more).

Every key is optional; without ``rpc_url`` the node has no chain and the wallet commands say so.
`djmesh devnet` prints a ready-made table for its chain.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from djmesh.ledger.evm.errors import LedgerError

#: ``contracts`` table names (as `djmesh devnet --json` prints them) -> LedgerConfig fields
CONTRACT_KEYS = {"BattleEscrow": "escrow", "ListenChannel": "listen_channel", "ListenGate": "listen_gate"}


class LedgerConfigError(LedgerError):
    """config.toml's [ledger] table has a wrong value; the message names the file and key."""


@dataclass(frozen=True)
class LedgerConfig:
    rpc_url: str = ""
    chain_id: int = 0  # 0: not configured (connecting then refuses)
    confirmations: int = 1
    escrow: str = ""
    listen_channel: str = ""
    listen_gate: str = ""
    from_block: int = 0
    tx_timeout_s: float = 120.0

    @classmethod
    def load(cls, path: Path) -> LedgerConfig:
        if not path.exists():
            return cls()
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
            raise LedgerConfigError(f"{path}: {exc}") from exc
        table = data.get("ledger", {})
        if not isinstance(table, dict):
            raise LedgerConfigError(f"{path}: [ledger] must be a table")
        return cls.from_mapping(table, source=str(path))

    @classmethod
    def from_mapping(cls, data: dict[str, Any], *, source: str = "config") -> LedgerConfig:
        known = {f.name: f for f in fields(cls)}
        data = dict(data)
        contracts = data.pop("contracts", {})
        if not isinstance(contracts, dict):
            raise LedgerConfigError(
                f'{source}: ledger.contracts must be a table like {{ BattleEscrow = "0x...", ... }}'
            )
        for name, key in CONTRACT_KEYS.items():
            if name in contracts:
                if key in data and data[key] != contracts[name]:
                    raise LedgerConfigError(f"{source}: ledger.{key} and ledger.contracts.{name} differ")
                data[key] = contracts[name]
        values: dict[str, Any] = {}
        for key, value in data.items():
            if key not in known:
                raise LedgerConfigError(f"{source}: unknown key ledger.{key}")
            default = known[key].default
            if isinstance(default, int) and not isinstance(default, bool):
                if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                    raise LedgerConfigError(f"{source}: ledger.{key} must be a non-negative integer")
            elif isinstance(default, float):
                if not isinstance(value, int | float) or isinstance(value, bool) or value <= 0:
                    raise LedgerConfigError(f"{source}: ledger.{key} must be a positive number")
                value = float(value)
            elif not isinstance(value, str):
                raise LedgerConfigError(f"{source}: ledger.{key} must be a string")
            if key in ("escrow", "listen_channel", "listen_gate") and value:
                # eth_utils costs 0.14 s to import: only a node that names a contract pays it
                from eth_utils.address import is_hex_address, to_checksum_address

                if not is_hex_address(value):
                    raise LedgerConfigError(f"{source}: ledger.{key} is not an EVM address: {value!r}")
                value = to_checksum_address(value)
            values[key] = value
        config = cls(**values)
        if config.confirmations < 1:
            raise LedgerConfigError(f"{source}: ledger.confirmations must be at least 1")
        return config

    def to_toml(self) -> str:
        lines = ["[ledger]"]
        for item in fields(self):
            value = getattr(self, item.name)
            lines.append(f"{item.name} = " + (f'"{value}"' if isinstance(value, str) else repr(value)))
        return "\n".join(lines) + "\n"
