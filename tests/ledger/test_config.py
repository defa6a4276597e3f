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


def test_contracts_table_as_devnet_json_prints_it(tmp_path: Path) -> None:
    """`djmesh devnet --json`'s rpc_url, chain_id and contracts copied into [ledger] configure the node."""
    escrow, channel, gate = (
        "0x5FbDB2315678afecb367f032d93F642f64180aa3",
        "0xe7f1725E7734CE288F8367e1Bb143E90bb3F0512",
        "0x9fE46736679d2D9a65F0992F2272dE9f3c7fa6e0",
    )
    path = tmp_path / "config.toml"
    path.write_text(
        '[ledger]\nrpc_url = "http://127.0.0.1:8545"\nchain_id = 31337\n'
        f'contracts = {{ BattleEscrow = "{escrow}", ListenChannel = "{channel}", ListenGate = "{gate}",'
        ' FutureThing = "0x0000000000000000000000000000000000000001" }\n',
        encoding="utf-8",
    )
    config = LedgerConfig.load(path)
    assert (config.escrow, config.listen_channel, config.listen_gate) == (escrow, channel, gate)
    assert config.chain_id == 31337
    with pytest.raises(LedgerConfigError, match=r"ledger\.contracts must be a table"):
        LedgerConfig.from_mapping({"contracts": "x"})
    with pytest.raises(LedgerConfigError, match="not an EVM address"):
        LedgerConfig.from_mapping({"contracts": {"ListenGate": "0x12"}})
