"""Deploying the two contracts from their checked-in artifacts (no compiler needed)."""

from __future__ import annotations

from dataclasses import dataclass

from web3.contract import Contract

from djmesh.ledger.artifacts import load_artifact
from djmesh.ledger.evm.chain import EvmChain
from djmesh.ledger.evm.errors import LedgerError
from djmesh.ledger.evm.sender import TxSender

ESCROW = "BattleEscrow"
LISTEN_CHANNEL = "ListenChannel"


@dataclass(frozen=True)
class Deployment:
    escrow: str
    listen_channel: str

    def as_json(self) -> dict[str, str]:
        return {ESCROW: self.escrow, LISTEN_CHANNEL: self.listen_channel}


def bind(chain: EvmChain, name: str, address: str) -> Contract:
    """The deployed contract ``name`` at ``address``; refuses an address with no code."""
    checksummed = chain.w3.to_checksum_address(address)
    if not chain.w3.eth.get_code(checksummed):
        raise LedgerError(
            f"no contract at {checksummed} on chain {chain.chain_id} (is {name} deployed there?)"
        )
    contract = chain.w3.eth.contract(address=checksummed, abi=load_artifact(name).abi)
    assert isinstance(contract, Contract)
    return contract


def deploy_contract(sender: TxSender, name: str) -> str:
    artifact = load_artifact(name)
    return sender.deploy(artifact.abi, artifact.bytecode)


def deploy_contracts(sender: TxSender) -> Deployment:
    """Deploy BattleEscrow and ListenChannel from ``sender``'s account."""
    return Deployment(
        escrow=deploy_contract(sender, ESCROW), listen_channel=deploy_contract(sender, LISTEN_CHANNEL)
    )
