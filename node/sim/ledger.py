"""Chaos for the prize escrow: whole battles on the simulated network with a real EVM (py-evm, in this
process) and the real escrow service on every node, and faults on the chain side near the payout and the
refund: a transaction mined and then reorganised away, an RPC call refused, an answer lost after the
transaction was mined.

Each scenario reports where the money went: every wei staked must end with the winner (a payout) or back
with its staker (a refund) and nothing may stay in the contract; ``money_lost_wei`` is what did not
(stuck in the escrow or paid to anyone else), from the chain's own ``Paid`` and ``Refunded`` events.
A transaction reorganised away is modelled by an eth-tester snapshot reverted under it after the node
saw its receipt; the chain's clock is moved past the escrow deadline by hand (it runs on real time,
the nodes on virtual time).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests
from eth_account import Account

from djmesh.ledger.evm.chain import EvmChain
from djmesh.ledger.evm.deploy import deploy_contracts
from djmesh.ledger.evm.escrow import Escrow
from djmesh.ledger.evm.sender import TxSender
from djmesh.node.battle.escrow import BattleEscrowService
from djmesh.node.battle.service import DjSet
from djmesh.node.clock import now_ms
from djmesh.node.sim.battles import DJS, VIEWERS, SimBattle, _Peer, sim_rules
from djmesh.protocol.battle import Rules

log = logging.getLogger(__name__)

STAKES = {"dj-a": 10**18, "dj-b": 2 * 10**18}
TIMEOUT_S = 300.0  # virtual seconds to wait for a settlement after the reveal deadline


Fault = Callable[[EvmChain, Callable[..., Any]], Callable[..., Any]]  # wraps one escrow call


def reorganised_then_lost(chain: EvmChain, call: Callable[..., Any]) -> Callable[..., Any]:
    """First call: mined, its receipt returned, then the block is gone (a reorganisation). Second: mined,
    but the answer is lost. Then the chain behaves."""
    calls: list[int] = []

    def faulty(*args: Any) -> Any:
        calls.append(1)
        assert chain.tester is not None
        if len(calls) == 1:
            snapshot = chain.tester.take_snapshot()
            receipt = call(*args)
            chain.tester.revert_to_snapshot(snapshot)
            return receipt
        if len(calls) == 2:
            call(*args)
            raise requests.Timeout("read timed out")
        return call(*args)

    return faulty


def refused_then_lost(chain: EvmChain, call: Callable[..., Any]) -> Callable[..., Any]:
    """The RPC node cannot be reached twice (nothing sent), then the transaction is mined but its answer
    is lost, then the chain behaves."""
    calls: list[int] = []

    def faulty(*args: Any) -> Any:
        calls.append(1)
        if len(calls) <= 2:
            raise requests.ConnectionError("connection refused")
        if len(calls) == 3:
            call(*args)
            raise requests.Timeout("read timed out")
        return call(*args)

    return faulty


@dataclass(frozen=True)
class LedgerScenario:
    name: str
    fault: Fault
    #: what the fault hits: "payout" (members attest, the winner collects) or "refund" (no member
    #: attests, so nobody can be paid and the DJs take their stakes back after the deadline)
    step: str


LEDGER_SCENARIOS = [
    LedgerScenario("ledger: the payout is reorganised away, then its answer lost", reorganised_then_lost, "payout"),
    LedgerScenario("ledger: RPC refused twice near the payout, then its answer lost", refused_then_lost, "payout"),
    LedgerScenario("ledger: the refunds are reorganised away, then their answers lost", reorganised_then_lost, "refund"),
    LedgerScenario("ledger: RPC refused twice near the refunds, then their answers lost", refused_then_lost, "refund"),
]  # fmt: skip


def _evm_key(chain: EvmChain, name: str) -> bytes:
    """The DJs spend (funded dev accounts); members only sign, so their keys hold no ETH."""
    if name in DJS:
        return bytes(chain.dev_keys[1 + DJS.index(name)])
    return hashlib.sha256(f"sim ledger {name}".encode()).digest()


class LedgerSimBattle(SimBattle):
    """``SimBattle`` with a ``BattleEscrowService`` on every node, on one in-process chain."""

    def __init__(self, root: Path, seed: int, chain: EvmChain, escrow_address: str, *, attest: bool) -> None:
        super().__init__(root, seed)
        self.chain = chain
        self.escrow_address = escrow_address
        self.attest = attest
        self.escrows: dict[str, BattleEscrowService] = {}

    async def _boot(self, name: str) -> _Peer:
        peer = await super()._boot(name)
        sender = TxSender(self.chain, Account.from_key(_evm_key(self.chain, name)))
        service = BattleEscrowService(
            peer.node, peer.battles, self.chain, sender, self.escrow_address, attest=self.attest, settle_s=2.0
        )
        self.escrows[name] = await peer.stack.enter_async_context(service)
        return peer


async def _until(check: Callable[[], Awaitable[bool]], timeout_s: float) -> bool:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while not await check():
        if loop.time() > deadline:
            return False
        await asyncio.sleep(1.0)
    return True


async def run_ledger_scenario(
    scenario: LedgerScenario, seed: int, root: Path, sets: tuple[DjSet, DjSet], rules: Rules | None = None
) -> dict[str, Any]:
    chain = EvmChain.in_process()
    bank = TxSender(chain, Account.from_key(chain.dev_keys[0]))
    contracts = await asyncio.to_thread(deploy_contracts, bank)
    reader = Escrow(chain, contracts.escrow)
    sim = LedgerSimBattle(root, seed, chain, contracts.escrow, attest=scenario.step == "payout")
    calls: dict[str, int] = {}
    try:
        await sim.start()
        await sim.settle()
        a, b = sim.peers["dj-a"], sim.peers["dj-b"]
        for name in DJS:  # the fault sits between each DJ's node and the chain
            escrow = sim.escrows[name].escrow
            real = getattr(escrow, scenario.step)
            faulty = scenario.fault(chain, real)

            def counted(*args: Any, _faulty: Any = faulty, _name: str = name) -> Any:
                calls[_name] = calls.get(_name, 0) + 1
                return _faulty(*args)

            setattr(escrow, scenario.step, counted)
        battle_id = await a.act(
            sim.escrows["dj-a"].announce(
                b.node.peer_id,
                sets[0],
                rules=rules or sim_rules(),
                stake_wei=STAKES["dj-a"],
                start_in_s=20,
                accept_s=12,
                commit_seconds=60,
                reveal_seconds=30,
            )
        )
        sim.battle_id = battle_id
        while battle_id not in sim.escrows["dj-b"].states:
            await asyncio.sleep(0.05)
        await b.act(sim.escrows["dj-b"].accept(battle_id, sets[1], stake_wei=STAKES["dj-b"]))
        spec = a.battles.battles[battle_id].machine.spec
        await sim.results(max(1.0, (spec.reveal_by - now_ms()) / 1000 + 90))
        held = {n: p.battles.best_result(battle_id) for n, p in sim.peers.items()}
        decided = [r for r in held.values() if r is not None]

        async def settled() -> bool:
            entry = await asyncio.to_thread(reader.battle, battle_id)
            return entry is not None and entry.settled

        async def empty() -> bool:
            return await asyncio.to_thread(chain.balance, contracts.escrow) == 0

        if scenario.step == "payout":
            await _until(settled, TIMEOUT_S)
        # then the deadline passes on chain: stakes not paid out come back (a settled entry refunds nothing)
        entry = await asyncio.to_thread(reader.battle, battle_id)
        assert entry is not None
        await asyncio.to_thread(chain.advance_time, max(0, entry.deadline - chain.timestamp() + 1))
        await _until(empty, TIMEOUT_S)
        await asyncio.sleep(15)  # time for a second payout or refund that must not come
        events = reader.contract.events
        paid = await asyncio.to_thread(
            events.Paid.get_logs, argument_filters={"battle_id": battle_id}, from_block=0
        )
        refunded = await asyncio.to_thread(
            events.Refunded.get_logs, argument_filters={"battle_id": battle_id}, from_block=0
        )  # fmt: skip
        left = await asyncio.to_thread(chain.balance, contracts.escrow)
    finally:
        await sim.close()
    addresses = {name: Account.from_key(_evm_key(chain, name)).address for name in (*DJS, *VIEWERS)}
    winner = decided[0].winner if decided else None
    staked = sum(STAKES.values())
    to_winner = sum(
        int(p["args"]["amount"]) for p in paid if winner and p["args"]["winner"] == addresses[f"dj-{winner}"]
    )
    refunds_right = sum(
        min(int(r["args"]["amount"]), STAKES.get(_name_of(addresses, r["args"]["staker"]), 0))
        for r in refunded
    )
    return {
        "name": scenario.name,
        "battles": 1,
        "agreed": int(len({r.result_hash for r in decided}) <= 1),
        # refund scenarios: every member's wallet stays offline (no attestation), more than f
        "within_f": scenario.step == "payout",
        "money_lost_wei": staked - to_winner - refunds_right,
        "audio_gap_s": None,
        "result": "none" if not decided else decided[0].winner,
        "staked_wei": staked,
        "paid_wei": sum(int(p["args"]["amount"]) for p in paid),
        "payouts": len(paid),
        "refunded_wei": sum(int(r["args"]["amount"]) for r in refunded),
        "refunds": len(refunded),
        "left_in_escrow_wei": left,
        "faulty_calls": calls,
    }


def _name_of(addresses: dict[str, str], address: str) -> str:
    return next((n for n, a in addresses.items() if a == address), "")
