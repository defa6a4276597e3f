"""A fresh in-process EVM (eth-tester / py-evm) with both contracts deployed, for each test."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from eth_account import Account
from web3.contract import Contract

from djmesh.ledger.evm import EvmChain, TxSender, deploy_contracts
from djmesh.ledger.evm.channels import ListenChannels
from djmesh.ledger.evm.deploy import Deployment
from djmesh.ledger.evm.escrow import Escrow
from tests.helpers.cli import CliResult, CliRunner

ETH = 10**18
LEDGER_COMMANDS = ("wallet", "devnet")
ATTACKER_SOURCE = Path(__file__).parent / "contracts" / "Attacker.vy"


@dataclass
class Evm:
    chain: EvmChain
    contracts: Deployment

    def key(self, n: int) -> bytes:
        return self.chain.dev_keys[n]

    def address(self, n: int) -> str:
        return str(Account.from_key(self.key(n)).address)

    def sender(self, n: int) -> TxSender:
        return TxSender(self.chain, Account.from_key(self.key(n)))

    def escrow(self, n: int) -> Escrow:
        return Escrow(self.chain, self.contracts.escrow, self.sender(n))

    def channels(self, n: int) -> ListenChannels:
        return ListenChannels(self.chain, self.contracts.listen_channel, self.sender(n))

    def attacker(self, target: str, deployer: int = 9) -> Contract:
        """The re-entering test contract (tests/ledger/contracts/Attacker.vy), aimed at ``target``."""
        import vyper

        out = vyper.compile_code(
            ATTACKER_SOURCE.read_text(encoding="utf-8"), output_formats=["abi", "bytecode"]
        )
        address = self.sender(deployer).deploy(out["abi"], bytes.fromhex(out["bytecode"][2:]), target)
        contract = self.chain.w3.eth.contract(address=address, abi=out["abi"])
        assert isinstance(contract, Contract)
        return contract

    def drive(self, attacker: Contract, contract: Contract, fn: str, *args: Any, value: int = 0) -> None:
        """Make ``attacker`` call ``contract.fn(*args)`` (it is msg.sender there)."""
        data = contract.encode_abi(fn, args=list(args))
        self.sender(9).transact(attacker.functions.forward(data), value=value)


@pytest.fixture
def evm() -> Evm:
    chain = EvmChain.in_process()
    contracts = deploy_contracts(TxSender(chain, Account.from_key(chain.dev_keys[0])))
    return Evm(chain, contracts)


@pytest.fixture
def ledger_cli(djmesh: CliRunner) -> CliRunner:
    """The real `djmesh` in a subprocess, with fast keystores."""
    runner = CliRunner(env={**djmesh.env, "DJMESH_WALLET_SCRYPT_N": "1024"}, cwd=djmesh.cwd)  # tests only
    return runner


@pytest.fixture
def djmesh_main(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> Callable[..., CliResult]:
    """`djmesh ARGS` through the real main() in this process (fast: no interpreter start per call).

    Only the ledger's subcommands are loaded (the other plugins would import libp2p and textual).
    """
    from importlib.metadata import EntryPoint, entry_points

    from djmesh.node import cli

    def with_ledger(**kw: Any) -> list[EntryPoint]:
        return [e for e in entry_points(**kw) if e.name in LEDGER_COMMANDS]

    monkeypatch.setattr(cli, "entry_points", with_ledger)
    monkeypatch.setenv("DJMESH_WALLET_SCRYPT_N", "1024")
    for name in ("DJMESH_PASSPHRASE", "DJMESH_HOME"):
        monkeypatch.delenv(name, raising=False)

    def run(*args: str) -> CliResult:
        capsys.readouterr()
        try:
            code = cli.main(list(args))
        except SystemExit as exc:  # argparse
            code = int(exc.code or 0)
        out = capsys.readouterr()
        return CliResult(code, out.out, out.err)

    return run
