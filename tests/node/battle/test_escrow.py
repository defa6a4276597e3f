"""The prize escrow between real nodes: a short battle, BattleEscrow on py-evm.

Two DJs, four viewers (the committee: 3f+1 = 4, quorum 3) and a fan who sponsors the prize and
forges attestations. Everything crosses the mesh: wallet bindings, the announcement with its escrow
terms, joins, sets, verdicts, result bundles and attestations; every figure is read from the chain.

The payout with seat bonds runs on the real mesh (libp2p on loopback); the battle without a quorum runs
the same nodes and services on the in-memory network (node/sim/) and virtual time (a quarter of the CPU).
A payout reorganised away and then answered late is a ledger scenario on that network
(tests/node/sim/test_ledger.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from eth_account import Account

from djmesh.ledger.evm import EvmChain, TxSender, deploy_contracts
from djmesh.ledger.evm.escrow import Escrow, sign_result
from djmesh.node.battle.escrow import BattleEscrowService
from djmesh.node.battle.service import BattleService, DjSet
from djmesh.node.clock import now_ms, run_virtual
from djmesh.node.live.service import LiveService
from djmesh.node.node import Node
from djmesh.node.p2p import Verdict
from djmesh.node.sim.battles import SimBattle, _Peer
from djmesh.protocol import sign
from djmesh.protocol.battle import BATTLES_TOPIC, BattleAttestation, Rules
from djmesh.protocol.consensus import Result
from tests.helpers.network import PATIENCE, bootstrap_server, make_node, peer_stacks, wait_until
from tests.helpers.sets import write_wav
from tests.helpers.sim import virtual_wait_until

# a whole battle on loopback, in quiet-machine seconds: tests/conftest.py scales it by PATIENCE, like every wait inside
pytestmark = pytest.mark.timeout(80)

ETH = 10**18
STAKES = {"dj-a": ETH, "dj-b": ETH, "fan": ETH // 2}
VIEWERS = ("viewer-1", "viewer-2", "viewer-3", "viewer-4")


def evm_key(chain: EvmChain, name: str) -> bytes:
    """DJs and the fan spend (dev accounts); committee members only sign, so their keys hold no ETH."""
    funded = {"dj-a": 1, "dj-b": 2, "fan": 3}
    if name in funded:
        return chain.dev_keys[funded[name]]
    return hashlib.sha256(f"escrow test {name}".encode()).digest()


@dataclass
class Peer:
    name: str
    node: Node
    battles: BattleService
    escrow: BattleEscrowService
    evm_key: bytes

    @property
    def address(self) -> str:
        return str(Account.from_key(self.evm_key).address)


@dataclass
class Network:
    chain: EvmChain
    escrow_address: str
    peers: dict[str, Peer]
    virtual: bool = False  # the in-memory network on virtual time (else libp2p on loopback, real time)

    def __getitem__(self, name: str) -> Peer:
        return self.peers[name]

    def reader(self) -> Escrow:
        return Escrow(self.chain, self.escrow_address)

    async def wait(
        self, predicate: Callable[[], bool], *, timeout: float = 30.0, what: str | Callable[[], str]
    ) -> None:
        """``wait_until`` on loopback; on virtual time the deadline is exact (no patience needed)."""
        if not self.virtual:
            await wait_until(predicate, timeout=timeout, what=what)
            return
        await virtual_wait_until(predicate, timeout_s=timeout, what=what)


@contextlib.asynccontextmanager
async def escrow_network(
    tmp_path: Path, *, silent: tuple[str, ...] = (), fund_viewers: bool = False
) -> AsyncIterator[Network]:
    """Seven real nodes with battle and escrow services; ``silent`` members never attest;
    ``fund_viewers``: the viewers get ETH (to post seat bonds)."""
    chain = EvmChain.in_process()
    bank = TxSender(chain, Account.from_key(chain.dev_keys[0]))
    contracts = deploy_contracts(bank)
    if fund_viewers:
        for name in VIEWERS:
            bank.transact(to=Account.from_key(evm_key(chain, name)).address, value=ETH)
    async with bootstrap_server() as boot, peer_stacks() as stacks:
        peers: dict[str, Peer] = {}
        for name in ("dj-a", "dj-b", *VIEWERS, "fan"):
            stack = stacks.peer()
            node = await stack.enter_async_context(make_node(tmp_path, name, boot))
            live = await stack.enter_async_context(LiveService(node))
            battles = await stack.enter_async_context(BattleService(node, live, auto_join=name in VIEWERS))
            key = evm_key(chain, name)
            escrow = await stack.enter_async_context(
                BattleEscrowService(
                    node,
                    battles,
                    chain,
                    TxSender(chain, Account.from_key(key)),
                    contracts.escrow,
                    attest=name not in silent,
                    settle_s=2.0,
                )
            )
            peers[name] = Peer(name, node, battles, escrow, key)
        await wait_until(
            lambda: all(p.node.host.mesh_peers(BATTLES_TOPIC) for p in peers.values()),
            what="the battles mesh",
        )
        yield Network(chain, contracts.escrow, peers)


class EscrowSim(SimBattle):
    """The same seven nodes and services on the in-memory network: the fan boots like a DJ (a node that
    joins no committee); every node gets a ``BattleEscrowService`` on ``chain``."""

    def __init__(self, root: Path, chain: EvmChain, escrow_address: str, silent: tuple[str, ...]) -> None:
        super().__init__(root, 1, djs=("dj-a", "dj-b", "fan"), viewers=VIEWERS)
        self.chain, self.escrow_address, self.silent = chain, escrow_address, silent
        self.escrows: dict[str, BattleEscrowService] = {}

    async def _boot(self, name: str) -> _Peer:
        peer = await super()._boot(name)
        key = evm_key(self.chain, name)
        service = BattleEscrowService(
            peer.node,
            peer.battles,
            self.chain,
            TxSender(self.chain, Account.from_key(key)),
            self.escrow_address,
            attest=name not in self.silent,
            settle_s=2.0,
        )
        self.escrows[name] = await peer.stack.enter_async_context(service)
        return peer


@contextlib.asynccontextmanager
async def sim_escrow_network(tmp_path: Path, *, silent: tuple[str, ...] = ()) -> AsyncIterator[Network]:
    """``escrow_network`` on the in-memory network (run it on a ``VirtualTimeLoop``)."""
    chain = EvmChain.in_process()
    contracts = deploy_contracts(TxSender(chain, Account.from_key(chain.dev_keys[0])))
    sim = EscrowSim(tmp_path / "nodes", chain, contracts.escrow, silent)
    try:
        await sim.start()
        await sim.settle()
        peers = {
            name: Peer(name, p.node, p.battles, sim.escrows[name], evm_key(chain, name))
            for name, p in sim.peers.items()
        }
        yield Network(chain, contracts.escrow, peers, virtual=True)
    finally:
        await sim.close()


async def run_battle(net: Network, tmp_path: Path, *, seat_bond_wei: int = 0) -> tuple[bytes, Result]:
    """DJ A challenges DJ B with a prize; B and a fan stake; the committee judges real audio."""
    from djmesh.judge import JUDGE_PIN

    a, b, fan = net["dj-a"], net["dj-b"], net["fan"]
    patience = 1.0 if net.virtual else PATIENCE
    set_a = DjSet(str(write_wav(tmp_path / "a.wav", 8.0, bpm=125.0)), ("A1", "A2"), (0, 4000))
    set_b = DjSet(str(write_wav(tmp_path / "b.wav", 8.0, bpm=131.0)), ("B1",), (0,))
    rules = Rules.for_genre(
        "house",
        tracks=2,
        set_seconds=10,
        committee_size=4,
        mode="simultaneous",
        model=JUDGE_PIN,
    )
    battle_id = await a.escrow.announce(
        b.node.peer_id,  # A's node finds B's EVM address from B's wallet binding
        set_a,
        rules=rules,
        stake_wei=STAKES["dj-a"],
        seat_bond_wei=seat_bond_wei,
        # the join window is protocol time: on loopback a loaded machine needs it longer for every member to
        # post its bond and join before both DJs fix their rosters (else the rosters differ: no committee)
        start_in_s=12 * patience,
        accept_s=6 * patience,
        # Long windows cost nothing when everyone is on time (reveals open once all have committed),
        # and leave a loaded machine time to fetch and judge the sets.
        commit_seconds=30,
        reveal_seconds=15,
        title="prize battle",
    )
    for peer in (b, fan):
        await net.wait(lambda p=peer: battle_id in p.escrow.states, what=f"the escrow battle at {peer.name}")
    await b.escrow.accept(battle_id, set_b, stake_wei=STAKES["dj-b"])
    await fan.escrow.sponsor(battle_id, STAKES["fan"])
    entry = net.reader().battle(battle_id)
    assert entry is not None and entry.pot == sum(STAKES.values())
    assert (entry.dj_a, entry.dj_b) == (a.address, b.address)  # the announced terms, read back
    spec = a.battles.battles[battle_id].machine.spec
    assert spec.escrow is not None and spec.escrow.deadline == entry.deadline
    result = await fan.battles.wait_result(battle_id, (spec.reveal_by - now_ms()) / 1000 + 30)
    assert result is not None, "the committee agreed on no result"
    return battle_id, result


def winner_and_loser(net: Network, result: Result) -> tuple[Peer, Peer]:
    a, b = net["dj-a"], net["dj-b"]
    return (a, b) if result.winner == "a" else (b, a)


async def forge_attestations(net: Network, battle_id: bytes, result: Result) -> bytes:
    """Three wrong attestations over gossip: an outsider, a stolen identity, a lying member.

    Returns the canonical hash of the committee's result they name.
    """
    fan = net["fan"]
    bundle_hash = result.result_hash
    domain = net.reader().domain
    winner, loser = (p.address for p in winner_and_loser(net, result))

    def attestation(signer_key: bytes, named: str) -> BattleAttestation:
        signed = sign_result(signer_key, domain, battle_id, named, bundle_hash)
        return BattleAttestation(
            battle=battle_id,
            result=bundle_hash,
            winner=bytes.fromhex(named[2:]),
            signature=signed.signature.to_bytes(),
        )

    # 1. a valid EIP-712 signature for the true result, by someone who is not on the committee
    await fan.node.publish(attestation(fan.evm_key, winner))
    # 2. a member's envelope carrying an EVM signature that is not by the member's bound address
    member = net["viewer-1"]
    forged = sign(attestation(fan.evm_key, winner), member.node.identity.signing_key, created_at_ms=now_ms())
    await member.node.publish_signed(forged)
    # 3. a member signing, with its own bound key, that the loser won. It lies after its node signed the
    # true result: a node that finds a statement of its own (from before a restart, say) signs no other,
    # so a lie that came first would be the member's only statement, not an equivocation.
    liar = net["viewer-2"]
    await net.wait(lambda: own_attestation(liar, battle_id), what="viewer-2's own attestation")
    await liar.node.publish(attestation(liar.evm_key, loser))
    return bundle_hash


def own_attestation(peer: Peer, battle_id: bytes) -> bool:
    """Whether ``peer``'s node has signed and published its attestation of the battle."""
    mine = peer.node.store.query(author=peer.node.public_key, kind=BattleAttestation.KIND, limit=16)
    return any(getattr(s.envelope.message, "battle", None) == battle_id for s in mine)


def lose_gossiped_attestations(node: Node) -> None:
    """Fault injection: this node's gossip loses every ``battle_attestation`` (as a mesh still forming or
    an author over its rate would), after the message was marked seen, so gossip never offers it again.
    Only fetching the battle's topic from peers brings them. Call before the node joins the battle."""
    validate = node._validate

    def lossy(topic: str, data: bytes, origin: str) -> Verdict:
        verdict = validate(topic, data, origin)
        digest = hashlib.sha256(data).digest()
        envelope = node._accepted.get(digest)
        if verdict is Verdict.ACCEPT and envelope is not None and envelope.kind == BattleAttestation.KIND:
            del node._accepted[digest]
            return Verdict.IGNORE
        return verdict

    node._validate = lossy  # type: ignore[method-assign]


def dropped_reasons(peer: Peer, battle_id: bytes) -> list[str]:
    return sorted(peer.escrow.status(battle_id)["dropped_attestations"].values())


# a battle, a payout, then the deadline and every honest bond released
@pytest.mark.timeout(160)
async def test_bonded_members_pay_the_winner_over_gossip_and_an_equivocating_member_loses_its_bond(
    tmp_path: Path,
) -> None:
    """One battle for the payout and the seat bonds (each costs a whole battle on loopback)."""
    bond = ETH // 10
    async with escrow_network(tmp_path, fund_viewers=True) as net:
        battle_id, result = await run_battle(net, tmp_path, seat_bond_wei=bond)
        reader = net.reader()
        entry = reader.battle(battle_id)
        assert entry is not None and entry.seat_bond == bond
        # every member posted the bond before the DJs could fix the committee (the contract refuses otherwise)
        await wait_until(
            lambda: (reader.battle(battle_id) or entry).committee_size == 4, what="the committee"
        )
        assert all(reader.bond_of(battle_id, net[n].address) == bond for n in VIEWERS)
        # viewer-2 also signs that the loser won: two statements; a DJ's node shows both to the escrow
        await forge_attestations(net, battle_id, result)
        winner, loser = winner_and_loser(net, result)

        # the honest quorum pays the winner, whatever the forgeries say
        summary = await winner.escrow.wait_payout(battle_id, 30)
        assert summary is not None, winner.escrow.status(battle_id)
        prize = sum(STAKES.values())
        assert summary["winner_address"] == winner.address and summary["prize_wei"] == str(prize)
        assert summary["escrow"] == net.escrow_address
        # the winner's node submitted the payout: its balance grew by the prize minus that transaction's fee
        receipt = net.chain.w3.eth.get_transaction_receipt(summary["payout_tx"])
        fee = receipt["gasUsed"] * receipt["effectiveGasPrice"]
        after = net.chain.w3.eth.get_balance(winner.address, block_identifier=receipt["blockNumber"])
        assert after == int(summary["winner_balance_before_wei"]) + prize - fee
        assert net.chain.balance(net.escrow_address) == 4 * bond  # the pot is gone; the seat bonds stay
        entry = reader.battle(battle_id)
        assert entry is not None and entry.settled and entry.committee_size == 4
        # the committee on chain is the battle's committee, mapped through the members' bindings
        members = {net[n].address for n in VIEWERS}
        assert entry.committee_hash == reader.committee_hash(sorted(members))
        status = winner.escrow.status(battle_id)
        assert status["quorum"] == 3 and max(status["valid_attestations"].values()) >= 3
        await wait_until(lambda: len(dropped_reasons(winner, battle_id)) == 3, what="the forgeries dropped")
        reasons = dropped_reasons(winner, battle_id)
        assert reasons[0] == "its author is not on the committee"
        assert reasons[1].startswith(f"signed by {net['fan'].address}, not by the member's bound address")
        assert reasons[2].startswith("the result it signs names DJ") and loser.address in reasons[2]
        # the losing DJ's node sees the same payout on chain and takes nothing back
        assert await loser.escrow.payout_summary(battle_id) == summary

        # the equivocator's two statements burn its bond, once; so does the payout for every member the
        # result names for an offence (none when all revealed in time; a loaded machine may miss a reveal)
        liar = net["viewer-2"].address
        forfeits = set(winner.escrow.states[battle_id].machine.forfeits_of(result) or ())
        burned_members = forfeits | {liar}
        await wait_until(
            lambda: all(reader.bond_of(battle_id, m) == 0 for m in burned_members), what="the bonds burned"
        )
        assert reader.burned() == bond * len(burned_members)
        burned = reader.contract.events.BondBurned.get_logs(
            argument_filters={"battle_id": battle_id}, from_block=0
        )
        assert sorted((e["args"]["member"], e["args"]["equivocation"]) for e in burned) == sorted(
            [(m, False) for m in forfeits - {liar}] + [(liar, liar not in forfeits)]
        )
        # at the deadline the honest members' nodes take their bonds back
        net.chain.advance_time(entry.deadline - net.chain.timestamp() + 1)
        honest = [net[n].address for n in VIEWERS if net[n].address not in burned_members]
        await wait_until(
            lambda: all(reader.bond_of(battle_id, a) == 0 for a in honest), what="the honest bonds released"
        )
        released = reader.contract.events.BondReleased.get_logs(
            argument_filters={"battle_id": battle_id}, from_block=0
        )
        assert sorted(e["args"]["member"] for e in released) == sorted(honest)
        assert net.chain.balance(net.escrow_address) == bond * len(burned_members)  # burned: held for good
        # both DJs' nodes reported the equivocation; the one whose report came second is done with it
        # too (the bond is gone) rather than asking the chain again every retry pause
        report = f"report:{liar}"
        await wait_until(
            lambda: all(report in net[dj].escrow.states[battle_id].machine.done for dj in ("dj-a", "dj-b")),
            what=lambda: (
                f"both reports settled: {[net[d].escrow.status(battle_id) for d in ('dj-a', 'dj-b')]}"
            ),
        )


def test_without_2f_plus_1_valid_attestations_nobody_is_paid_and_stakes_come_back(tmp_path: Path) -> None:
    run_virtual(_without_a_quorum(tmp_path))


async def _without_a_quorum(tmp_path: Path) -> None:
    async with sim_escrow_network(tmp_path, silent=("viewer-3", "viewer-4")) as net:
        # the DJs' nodes never get an attestation by gossip: they count what they fetch again from peers
        for dj in ("dj-a", "dj-b"):
            lose_gossiped_attestations(net[dj].node)
        battle_id, result = await run_battle(net, tmp_path)
        await forge_attestations(net, battle_id, result)
        winner, _ = winner_and_loser(net, result)

        def valid() -> int:
            """Members with a valid attestation at the collector (over any bundle of the committee)."""
            groups = winner.escrow.states[battle_id].valid
            return len({signer for group in groups.values() for signer in group})

        await net.wait(  # a fetch again waits 2, 4, 8... s: gossip first
            lambda: valid() == 2 and len(dropped_reasons(winner, battle_id)) == 3,
            timeout=90,
            what=lambda: f"2 valid, 3 dropped: {winner.escrow.status(battle_id)}",
        )
        entry = net.reader().battle(battle_id)
        assert entry is not None and entry.committee_size == 4  # the committee was agreed; the quorum is 3
        await asyncio.sleep(
            10
        )  # time for a payout that must not come (virtual seconds: ten polls of the chain)
        assert valid() == 2 and await winner.escrow.payout_summary(battle_id) is None
        assert net.chain.balance(net.escrow_address) == sum(STAKES.values())

        before = {name: net.chain.balance(net[name].address) for name in STAKES}
        net.chain.advance_time(entry.deadline - net.chain.timestamp() + 1)
        await net.wait(lambda: net.chain.balance(net.escrow_address) == 0, what="every stake refunded")
        refunds = net.reader().contract.events.Refunded.get_logs(
            argument_filters={"battle_id": battle_id}, from_block=0
        )
        assert {log["args"]["staker"]: log["args"]["amount"] for log in refunds} == {
            net[name].address: amount for name, amount in STAKES.items()
        }
        for name, amount in STAKES.items():
            [refund] = [r for r in refunds if r["args"]["staker"] == net[name].address]
            receipt = net.chain.w3.eth.get_transaction_receipt(refund["transactionHash"])
            fee = receipt["gasUsed"] * receipt["effectiveGasPrice"]
            assert net.chain.balance(net[name].address) == before[name] + amount - fee
        assert await winner.escrow.payout_summary(battle_id) is None
