"""The [ledger] table of config.toml."""

from __future__ import annotations

from pathlib import Path

import pytest

from djmesh.ledger.evm import LedgerConfig, LedgerConfigError
from djmesh.node.config import NodeConfig


def test_ledger_table_sits_next_to_the_node_table(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    config = LedgerConfig(
        rpc_url="http://127.0.0.1:8545", chain_id=31337, confirmations=2,
        escrow="0x5FbDB2315678afecb367f032d93F642f64180aa3", listen_channel="0xe7f1725E7734CE288F8367e1Bb143E90bb3F0512",
    )  # fmt: skip
    path.write_text(NodeConfig(name="dj").to_toml() + "\n" + config.to_toml(), encoding="utf-8")
    assert LedgerConfig.load(path) == config
    assert NodeConfig.load(path).name == "dj"  # the node's own table is untouched
    assert LedgerConfig.load(tmp_path / "missing.toml") == LedgerConfig()
    lower = path.read_text().replace(config.escrow, config.escrow.lower())
    path.write_text(lower)
    assert LedgerConfig.load(path).escrow == config.escrow  # stored checksummed


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ({"rpc": "x"}, "unknown key ledger.rpc"),
        ({"chain_id": "1"}, "ledger.chain_id must be a non-negative integer"),
        ({"confirmations": 0}, "at least 1"),
        ({"confirmations": True}, "non-negative integer"),
        ({"escrow": "0x1234"}, "not an EVM address"),
        ({"tx_timeout_s": 0}, "positive number"),
        ({"rpc_url": 5}, "must be a string"),
    ],
)
def test_bad_values_name_the_key(table: dict[str, object], message: str) -> None:
    with pytest.raises(LedgerConfigError, match=message):
        LedgerConfig.from_mapping(table, source="config.toml")
