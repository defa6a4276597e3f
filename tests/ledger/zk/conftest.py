"""One in-process EVM (eth-tester / py-evm, set up as the node's devnet sets it up) per test module with the
Poseidon hasher and ListenGate deployed."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from eth_tester import EthereumTester
from eth_tester.exceptions import TransactionFailed
from web3 import EthereumTesterProvider, Web3
from web3.contract import Contract
from web3.exceptions import ContractLogicError
from web3.types import TxReceipt

from djmesh.ledger.evm.chain import pyevm_backend
from djmesh.ledger.evm.eip712 import Signature
from djmesh.ledger.zk.gate import Deployment, deploy, gate_domain, sign_gate_battle
from djmesh.ledger.zk.identity import Identity
from djmesh.ledger.zk.merkle import MerkleTree
from tests.helpers.zk import require_zk_toolchain

PRICE = 10**15
REWARD_BPS = 2_000
GAS = 2_000_000
_battle_numbers = itertools.count(1)


@pytest.fixture(scope="session", autouse=True)
def _zk_toolchain() -> None:
    require_zk_toolchain()


@dataclass
class Battle:
    battle_id: bytes
    djs: list[str]
    identities: list[Identity] = field(default_factory=list)
    tree: MerkleTree = field(default_factory=MerkleTree)


@dataclass
class Chain:
    w3: Web3
    deployment: Deployment

    @property
    def gate(self) -> Contract:
        return self.deployment.gate

    @property
    def accounts(self) -> list[str]:
        return [str(a) for a in self.w3.eth.accounts]

    def private_key(self, account_index: int) -> bytes:
        provider: Any = self.w3.provider
        return bytes(provider.ethereum_tester.backend.account_keys[account_index].to_bytes())

    def now(self) -> int:
        return int(self.w3.eth.get_block("latest")["timestamp"])

    def time_travel(self, seconds: int) -> None:
        provider: Any = self.w3.provider
        provider.ethereum_tester.time_travel(self.now() + seconds)

    def send(self, call: Any, sender: str, value: int = 0) -> TxReceipt:
        tx = call.transact({"from": sender, "value": value, "gas": GAS})
        receipt = self.w3.eth.get_transaction_receipt(tx)
        assert receipt["status"] == 1, "transaction reverted"
        return receipt

    def refused(self, call: Any, sender: str, reason: str, value: int = 0) -> None:
        """The node refuses it with `reason`, and the same transaction mined anyway reverts."""
        with pytest.raises((ContractLogicError, TransactionFailed), match=reason):
            call.call({"from": sender, "value": value})
        tx = call.transact({"from": sender, "value": value, "gas": GAS})
        assert self.w3.eth.get_transaction_receipt(tx)["status"] == 0

    def dj_signatures(
        self, battle_id: bytes, djs: list[str], price: int, reward_bps: int, ends_at: int
    ) -> list[tuple[int, bytes, bytes]]:
        """Each DJ's (dev account's) consent to the gate battle's terms, as create_battle takes them."""
        domain = gate_domain(self.w3.eth.chain_id, self.gate.address)
        keys = {a: self.private_key(i) for i, a in enumerate(self.accounts)}
        signed: list[Signature] = [
            sign_gate_battle(keys[dj], domain, battle_id, djs, price, reward_bps, ends_at) for dj in djs
        ]
        return [s.as_abi() for s in signed]

    def open_battle(self, listeners: int, duration_s: int = 3600) -> Battle:
        battle = Battle(next(_battle_numbers).to_bytes(32, "big"), self.accounts[1:3])
        organizer = self.accounts[0]
        ends_at = self.now() + duration_s
        signatures = self.dj_signatures(battle.battle_id, battle.djs, PRICE, REWARD_BPS, ends_at)
        self.send(
            self.gate.functions.create_battle(
                battle.battle_id, battle.djs, PRICE, REWARD_BPS, ends_at, signatures
            ),
            organizer,
        )
        for n in range(listeners):
            identity = Identity.generate()
            payer = self.accounts[3 + n % 4]
            self.send(
                self.gate.functions.register(battle.battle_id, identity.commitment, PRICE), payer, value=PRICE
            )
            battle.identities.append(identity)
            battle.tree.append(identity.commitment)
        return battle


@pytest.fixture(scope="module")
def chain() -> Iterator[Chain]:
    w3 = Web3(EthereumTesterProvider(EthereumTester(pyevm_backend())))
    yield Chain(w3, deploy(w3, str(w3.eth.accounts[0])))
