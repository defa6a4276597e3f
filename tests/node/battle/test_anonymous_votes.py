"""Anonymous votes between real nodes on loopback, ListenGate on py-evm, proofs from the real snarkjs.

A listener pays a listen unit from its wallet, then votes through a relaying peer: the chain counts the
vote, and the transaction comes from the relayer's address, never the listener's. Relayers refuse what
the chain would refuse (spent nullifier, tampered proof, garbage) before sending anything, and keep
working afterwards.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import itertools
import stat
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from eth_account import Account

from djmesh.ledger.evm import EvmChain, TxSender
from djmesh.ledger.zk import groth16
from djmesh.ledger.zk.gate import deploy_gate, gate_domain, prove_vote, sign_gate_battle
from djmesh.ledger.zk.identity import Identity
from djmesh.node.battle.anonymous_votes import (
    AlreadyVotedError,
    AnonymousVoteError,
    AnonymousVotes,
    NoRelayerError,
    NotRegisteredError,
    nullifier_hex,
)
from djmesh.node.battle.vote_cli import register as register_vote_command
from djmesh.node.battle.vote_control import vote_methods
from djmesh.node.cli import CliError
from djmesh.node.control import ControlClient, ControlServer
from djmesh.node.errors import ControlError, NodeError
from djmesh.node.home import NodeHome
from djmesh.node.node import Node
from djmesh.node.p2p import P2PError
from djmesh.protocol.ratelimit import RateLimit
from djmesh.protocol.votes import (
    MAX_RELAY_REPLY_BYTES,
    VOTE_RELAY_PROTOCOL_ID,
    InfoRequest,
    RelayInfo,
    RelayRefused,
    RelayReply,
    VoteRequest,
    VoteSubmitted,
    decode_reply,
)
from tests.helpers.network import PATIENCE, make_node
from tests.helpers.zk import require_zk_toolchain

pytestmark = pytest.mark.timeout(180)

PRICE = 10**15
_battle_numbers = itertools.count(1)


@pytest.fixture(scope="module", autouse=True)
def _zk_toolchain() -> None:
    require_zk_toolchain()


@dataclass
class Gate:
    chain: EvmChain
    address: str

    def sender(self, key: bytes) -> TxSender:
        return TxSender(self.chain, Account.from_key(key))

    def nonce(self, address: str) -> int:
        return int(self.chain.w3.eth.get_transaction_count(address))


@pytest.fixture(scope="module")
def gate() -> Iterator[Gate]:
    chain = EvmChain.in_process()
    address = deploy_gate(TxSender(chain, Account.from_key(chain.dev_keys[0])))
    yield Gate(chain, address)


@dataclass
class Peer:
    node: Node
    votes: AnonymousVotes | None

    @property
    def service(self) -> AnonymousVotes:
        assert self.votes is not None
        return self.votes


@contextlib.asynccontextmanager
async def peer(
    tmp_path: Path, name: str, gate: Gate, key: bytes | None, *, rate: RateLimit | None = None
) -> AsyncIterator[Peer]:
    """A real node; with ``key`` it runs AnonymousVotes (listener and relayer) paying from that key."""
    async with make_node(tmp_path, name, []) as node:
        if key is None:
            yield Peer(node, None)
            return
        # a relayer on a busy machine (py-evm, proofs, every node in this process) answers later than the
        # product's 10 s / 25 s defaults assume: the deadlines scale with the tests' patience
        async with AnonymousVotes(
            node,
            gate.chain,
            gate.sender(key),
            gate.address,
            rate_limit=rate,
            info_timeout_s=10.0 * PATIENCE,
            vote_timeout_s=25.0 * PATIENCE,
        ) as votes:
            yield Peer(node, votes)


def run_vote_command(home: NodeHome, *argv: str) -> tuple[int, str]:
    """`djmesh --home HOME vote ...` in-process: (exit status, stderr)."""
    parser = argparse.ArgumentParser(prog="djmesh")
    register_vote_command(parser.add_subparsers())
    args = parser.parse_args(["vote", *argv])
    args.home_obj = home
    try:
        return args.handler(args), ""
    except (CliError, NodeError) as exc:
        return (exc.code if isinstance(exc, CliError) else 1), str(exc)


async def ask(client: Node, relayer: Node, request: bytes) -> RelayReply:
    raw = await client.host.request(
        relayer.peer_id, VOTE_RELAY_PROTOCOL_ID, request, max_response_bytes=MAX_RELAY_REPLY_BYTES
    )
    return decode_reply(raw)


async def open_battle(gate: Gate, organizer: AnonymousVotes) -> bytes:
    battle_id = hashlib.sha256(f"battle {next(_battle_numbers)}".encode()).digest()
    djs = [Account.from_key(k).address for k in gate.chain.dev_keys[3:5]]
    ends_at = gate.chain.timestamp() + 3600
    domain = gate_domain(gate.chain.chain_id, gate.address)
    signatures = [
        sign_gate_battle(k, domain, battle_id, djs, PRICE, 0, ends_at) for k in gate.chain.dev_keys[3:5]
    ]
    await organizer.create_battle(battle_id, djs, price_wei=PRICE, ends_at=ends_at, signatures=signatures)
    return battle_id


async def test_listener_votes_through_a_relayer_and_the_relayer_refuses_before_paying(
    tmp_path: Path, gate: Gate
) -> None:
    keys = gate.chain.dev_keys
    poor_key = hashlib.sha256(b"a relayer without ETH").digest()
    async with contextlib.AsyncExitStack() as stack:
        listener = await stack.enter_async_context(peer(tmp_path, "listener", gate, keys[1]))
        relayer = await stack.enter_async_context(
            peer(tmp_path, "relayer", gate, keys[2], rate=RateLimit(burst=30, per_second=1))
        )
        poor = await stack.enter_async_context(peer(tmp_path, "poor", gate, poor_key))
        bystander = await stack.enter_async_context(peer(tmp_path, "bystander", gate, None))
        battle_id = await open_battle(gate, relayer.service)
        votes = listener.service

        with pytest.raises(NotRegisteredError):
            await votes.vote(battle_id, "a")
        with pytest.raises(AnonymousVoteError, match="above your maximum"):
            await votes.register(battle_id, max_price_wei=PRICE - 1)  # nothing paid, no identity saved
        assert not votes.identity_path(battle_id).exists()
        registration = await votes.register(battle_id, max_price_wei=PRICE)
        assert registration.leaf_index == 0
        identity_file = votes.identity_path(battle_id)
        assert identity_file.parent == listener.node.home.root / "wallet" / "zk"
        assert stat.S_IMODE(identity_file.stat().st_mode) == 0o600
        identity = Identity.load(identity_file)
        assert identity.commitment == registration.commitment

        # Only peers that cannot relay are connected: one without the protocol, one without gas money.
        for other in (poor, bystander):
            await listener.node.connect(other.node.listen_addrs[0])
        with pytest.raises(NoRelayerError) as refused:
            await votes.vote(battle_id, "b")
        assert "too little ETH" in str(refused.value)
        assert "cannot open" in str(refused.value)
        assert await votes.tally(battle_id) == [0, 0]

        await listener.node.connect(relayer.node.listen_addrs[0])
        relayer_nonce = gate.nonce(relayer.service.address)
        # Given in this order, the first two pass and the third relays.
        refused_before = dict(poor.service.refused)
        vote = await votes.vote(
            battle_id, "b", relay=[bystander.node.peer_id, poor.node.peer_id, relayer.node.peer_id]
        )
        assert (
            poor.service.refused["relayer has too little ETH for gas"]
            == refused_before["relayer has too little ETH for gas"] + 1
        )
        assert await votes.tally(battle_id) == [0, 1]
        sent = gate.chain.w3.eth.get_transaction(vote.tx)
        assert sent["from"] == vote.relayer == relayer.service.address != votes.address
        assert gate.nonce(relayer.service.address) == relayer_nonce + 1
        assert gate.nonce(votes.address) == 1  # the listener's wallet only paid the registration
        vote_scope = votes.gate.functions.scope(battle_id, 1).call()  # ListenGate's VOTE action
        assert vote.nullifier == identity.nullifier(vote_scope)
        assert (vote.choice, vote.battle_id) == (1, battle_id)

        # The same listen unit again: refused at home, and by relayers before any transaction.
        with pytest.raises(AlreadyVotedError, match=vote.tx):
            await votes.vote(battle_id, "a")
        nonces = {p.node.peer_id: gate.nonce(p.service.address) for p in (relayer, poor)}
        balance = gate.chain.balance(relayer.service.address)
        again = await asyncio.to_thread(
            prove_vote, votes.gate, identity, battle_id, 0, relayer.service.address
        )
        request = VoteRequest(battle_id, 0, again.root, again.nullifier, tuple(again.proof.evm_words()))
        assert again.nullifier == vote.nullifier
        for relaying in (relayer, poor):  # relayer remembers it; poor never saw it and asks the chain
            reply = await ask(listener.node, relaying.node, request.encode())
            assert reply == RelayRefused("nullifier already used", retry=False)
        assert {p.node.peer_id: gate.nonce(p.service.address) for p in (relayer, poor)} == nonces
        assert gate.chain.balance(relayer.service.address) == balance

        # A second paid unit (another wallet): its tampered proof is refused without a transaction,
        # then the genuine one is relayed: a refusal does not burn the nullifier.
        second = Identity.generate()
        payer = gate.sender(keys[6])
        await asyncio.to_thread(
            lambda: payer.transact(
                votes.gate.functions.register(battle_id, second.commitment, PRICE), value=PRICE
            )
        )
        proof = await asyncio.to_thread(prove_vote, votes.gate, second, battle_id, 0, relayer.service.address)
        words = proof.proof.evm_words()
        tampered = [words[0], groth16.BASE_FIELD - words[1], *words[2:]]  # A negated: on the curve, wrong
        request = VoteRequest(battle_id, 0, proof.root, proof.nullifier, tuple(tampered))
        assert await ask(listener.node, relayer.node, request.encode()) == RelayRefused(
            "invalid proof", retry=False
        )
        assert gate.nonce(relayer.service.address) == nonces[relayer.node.peer_id]
        genuine = VoteRequest(battle_id, 0, proof.root, proof.nullifier, tuple(words))
        submitted = await ask(listener.node, relayer.node, genuine.encode())
        assert isinstance(submitted, VoteSubmitted) and submitted.nullifier == proof.nullifier
        assert await votes.tally(battle_id) == [1, 1]

        # Garbage gets an answer; an oversized request is refused unread; the relayer keeps serving.
        for garbage in (b"\xff\x00", b"\xa1dtypedboom", InfoRequest().encode()[:-1]):
            reply = await ask(listener.node, relayer.node, garbage)
            assert isinstance(reply, RelayRefused) and not reply.retry
            assert reply.reason.startswith("malformed request")
        with pytest.raises(P2PError, match="too large"):
            await ask(listener.node, relayer.node, bytes(5000))
        info = await ask(listener.node, relayer.node, InfoRequest().encode())
        assert info == RelayInfo(relayer.service.address, gate.chain.chain_id, gate.address)

        # The demo's rows, read from the chain.
        cast = await votes.report(battle_id)
        assert cast["tally"] == [1, 1]
        assert cast["cast"] == [{"tx": vote.tx, "nullifier": nullifier_hex(vote.nullifier)}]
        assert cast["relayed"] == []
        relayed = await relayer.service.report(battle_id)
        assert relayed["relayed"] == [
            {"tx": vote.tx, "nullifier": nullifier_hex(vote.nullifier)},
            {"tx": "0x" + submitted.tx_hash.hex(), "nullifier": nullifier_hex(proof.nullifier)},
        ]
        assert relayed["cast"] == []

        # The same through the control API and the `djmesh vote` command (attached to a running node).
        async with ControlServer(listener.node, extra_methods=vote_methods(votes)):
            client = ControlClient(listener.node.home)
            assert await client.call("votes", battle_id=battle_id.hex()) == cast
            with pytest.raises(ControlError, match="already voted"):
                await client.call("vote", battle_id=battle_id.hex(), choice="a")
            with pytest.raises(ControlError, match="already paid"):
                await client.call("listen_register", battle_id=battle_id.hex())
            with pytest.raises(ControlError, match="choice must be a or b"):
                await client.call("vote", battle_id=battle_id.hex(), choice="c")
            code, err = await asyncio.to_thread(run_vote_command, listener.node.home, battle_id.hex(), "b")
            assert code == 1 and "already voted" in err
            code, err = await asyncio.to_thread(run_vote_command, listener.node.home, "beef", "b")
            assert code == 2 and "64 hex digits" in err


async def test_relayer_rate_limits_each_peer(tmp_path: Path, gate: Gate) -> None:
    keys = gate.chain.dev_keys
    async with (
        peer(tmp_path, "asker", gate, None) as asker,
        peer(tmp_path, "relay", gate, keys[7], rate=RateLimit(burst=2, per_second=0.01)) as relay,
    ):
        await asker.node.connect(relay.node.listen_addrs[0])
        for _ in range(2):
            assert isinstance(await ask(asker.node, relay.node, InfoRequest().encode()), RelayInfo)
        refused = await ask(asker.node, relay.node, InfoRequest().encode())
        assert isinstance(refused, RelayRefused) and refused.retry
        assert refused.reason.startswith("rate limited")


async def test_a_reward_claim_pays_the_address_given_and_only_once(tmp_path: Path, gate: Gate) -> None:
    """`djmesh reward claim --to ADDRESS`: the reward lands at ADDRESS; the claim is sent (and seen on chain)
    from the listener's wallet; a bad address or a second claim moves nothing."""
    from djmesh.node.battle.listen_reward import claim_reward

    keys = gate.chain.dev_keys
    async with peer(tmp_path, "claimer", gate, keys[1]) as listener:
        votes = listener.service
        battle_id = hashlib.sha256(f"battle {next(_battle_numbers)}".encode()).digest()
        djs = [Account.from_key(k).address for k in keys[3:5]]
        ends_at = gate.chain.timestamp() + 600
        domain = gate_domain(gate.chain.chain_id, gate.address)
        signatures = [sign_gate_battle(k, domain, battle_id, djs, PRICE, 5000, ends_at) for k in keys[3:5]]
        await votes.create_battle(
            battle_id, djs, price_wei=PRICE, ends_at=ends_at, reward_bps=5000, signatures=signatures
        )
        await votes.register(battle_id, max_price_wei=PRICE)
        with pytest.raises(AnonymousVoteError, match="listen window ends in"):
            await claim_reward(votes, battle_id)
        gate.chain.advance_time(ends_at - gate.chain.timestamp() + 1)
        fresh = Account.create().address
        with pytest.raises(AnonymousVoteError, match="not an EVM address"):
            await claim_reward(votes, battle_id, to="0x1234")
        claimed = await claim_reward(votes, battle_id, to=fresh.lower())
        assert claimed["to"] == fresh and int(claimed["amount_wei"]) == PRICE // 2  # the only unit: all of it
        assert gate.chain.balance(fresh) == PRICE // 2
        sent = gate.chain.w3.eth.get_transaction(claimed["tx"])
        assert sent["from"] == votes.address  # what the docs say: the claim shows the paying wallet
        with pytest.raises(AnonymousVoteError, match="claimed already"):
            await claim_reward(votes, battle_id, to=fresh)
        assert gate.chain.balance(fresh) == PRICE // 2
