"""Anonymous crowd votes on a ListenGate: pay a listen unit, prove membership, vote through another peer.

Listener side: ``register`` pays one listen unit from the node's wallet and registers a fresh identity
commitment (the secrets stay in ``HOME/wallet/zk/<battle>.json``, mode 0600); ``vote`` rebuilds the
battle's tree from the chain, proves with snarkjs bound to a relayer's address, and hands the proof to
that relayer over ``/djmesh/vote-relay/1.0.0`` (request/response, not gossip: gossip is signed and
published by its author). The result is read back from the chain, not taken from the relayer.

Relayer side: the rules are ``protocol/vote_relay.py``'s ``RelayMachine`` (rate, shape, known
nullifiers, claims); this module carries its chain steps: the preflight (gas money, then an ``eth_call``
of the very transaction it would send, which checks the root, the proof, the choice and the deadline),
the send from its own wallet, and watching the transaction. Every failure is an answer (``refused``,
with ``retry`` when another relayer may do better), never a crash.

Every chain call blocks, so it runs in a worker thread (``asyncio.to_thread``); so does snarkjs.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import requests
from web3 import Web3
from web3.contract import Contract
from web3.exceptions import ContractLogicError, Web3Exception, Web3RPCError
from web3.logs import DISCARD
from web3.types import TxReceipt

from djmesh.ledger.artifacts import load_artifact
from djmesh.ledger.evm.chain import EvmChain
from djmesh.ledger.evm.eip712 import Signature
from djmesh.ledger.evm.errors import TransactionFailedError
from djmesh.ledger.evm.sender import REVERTS, TxSender, revert_reason
from djmesh.ledger.zk.gate import battle_tree, gate_domain, sign_gate_battle
from djmesh.ledger.zk.identity import Identity
from djmesh.ledger.zk.merkle import MerkleTree
from djmesh.ledger.zk.params import ZKEY_PATH
from djmesh.ledger.zk.prover import ProvingError, prove
from djmesh.ledger.zk.signals import Action, scope, vote_signal
from djmesh.node.clock import monotonic, sleep
from djmesh.node.errors import NodeError
from djmesh.node.node import Node
from djmesh.node.p2p import P2PError
from djmesh.node.tasks import BackgroundTasks
from djmesh.protocol.errors import ProtocolError
from djmesh.protocol.ratelimit import RateLimit
from djmesh.protocol.vote_relay import (
    Logged,
    Preflight,
    Preflighted,
    RelayAction,
    RelayMachine,
    Reply,
    Request,
    Submit,
    Submitted,
    TxFailed,
    Watch,
)
from djmesh.protocol.votes import (
    MAX_RELAY_REPLY_BYTES,
    MAX_RELAY_REQUEST_BYTES,
    VOTE_RELAY_PROTOCOL_ID,
    InfoRequest,
    RelayInfo,
    RelayRefused,
    RelayReply,
    VoteRequest,
    VoteSubmitted,
    decode_reply,
)

log = logging.getLogger(__name__)
_T = TypeVar("_T")

#: gas a relayer must be able to pay before it accepts a vote (a vote costs ~277k; TxSender adds 20%)
VOTE_GAS_BUDGET = 400_000
#: what a chain node failing (not a contract refusing) raises
CHAIN_FAILURES: tuple[type[Exception], ...] = (Web3Exception, requests.RequestException, OSError, ValueError)
#: what waiting for a receipt raises when the transaction did not land
WAIT_FAILURES: tuple[type[Exception], ...] = (TransactionFailedError, *CHAIN_FAILURES)
#: what sending a transaction raises when it was not sent (refused by the node, or the node failed)
SEND_FAILURES: tuple[type[Exception], ...] = (TransactionFailedError, *CHAIN_FAILURES)


class AnonymousVoteError(NodeError):
    """A listen registration or anonymous vote that cannot be done; the message says why."""


class NotRegisteredError(AnonymousVoteError):
    """This node holds no listen identity for the battle (``register`` first)."""


class AlreadyRegisteredError(AnonymousVoteError):
    """This node's identity for the battle is already paid for (one unit per battle per node)."""


class AlreadyVotedError(AnonymousVoteError):
    """The identity's nullifier for this battle is spent: its vote was counted already."""


class VoteRefusedError(AnonymousVoteError):
    """The chain would refuse the vote whoever relays it (voting closed, no such choice...)."""


class NoRelayerError(AnonymousVoteError):
    """No peer relayed the vote; the message lists each peer's answer."""


@dataclass(frozen=True)
class GateBattle:
    """A battle's terms as ListenGate stores them."""

    organizer: str
    price_wei: int
    reward_bps: int
    ends_at: int
    size: int  # paid listen units so far
    djs: tuple[str, ...]  # choice i is DJ i


@dataclass(frozen=True)
class Registration:
    battle_id: bytes
    tx: str
    leaf_index: int
    commitment: int


@dataclass(frozen=True)
class VoteReceipt:
    """A vote as the chain recorded it (read from the ``Voted`` event, whoever reported it)."""

    battle_id: bytes
    choice: int
    nullifier: int
    tx: str
    relayer: str  # the EVM address that sent the transaction
    block: int

    def row(self) -> dict[str, str]:
        """The demo's row: transaction and nullifier, both hex."""
        return {"tx": self.tx, "nullifier": nullifier_hex(self.nullifier)}


class _RelayerPassedError(Exception):
    """This relayer did not relay; another one may."""


class _CountedError(_RelayerPassedError):
    """Not a failure: the vote is on chain (a relayer sent it but its answer got lost)."""

    def __init__(self, receipt: VoteReceipt) -> None:
        super().__init__("already counted")
        self.receipt = receipt


def nullifier_hex(nullifier: int) -> str:
    return f"0x{nullifier:064x}"


def parse_choice(choice: int | str) -> int:
    """``a``/``b`` (or a DJ index) to the gate's choice index."""
    if isinstance(choice, str):
        text = choice.strip().lower()
        if len(text) == 1 and "a" <= text <= "h":
            return ord(text) - ord("a")
        raise AnonymousVoteError(f"vote for DJ a or b, not {choice!r}")
    if isinstance(choice, bool) or not 0 <= choice < 8:
        raise AnonymousVoteError(f"choice must be 0..7, not {choice!r}")
    return choice


def _short(peer_id: str) -> str:
    return peer_id[-8:]


class AnonymousVotes:
    """Listener and relayer of anonymous votes on one ListenGate, for one node and its wallet."""

    def __init__(
        self,
        node: Node,
        chain: EvmChain,
        sender: TxSender,
        gate_address: str,
        *,
        relay: bool = True,
        rate_limit: RateLimit | None = None,
        from_block: int = 0,
        max_relayers: int = 4,
        info_timeout_s: float = 10.0,
        vote_timeout_s: float = 25.0,
        zkey: Path = ZKEY_PATH,
        entry_wait_s: float = 30.0,
    ) -> None:
        self.node = node
        self.entry_wait_s = entry_wait_s
        self.chain = chain
        self.sender = sender
        self.gate: Contract = chain.w3.eth.contract(
            address=Web3.to_checksum_address(gate_address), abi=load_artifact("ListenGate").abi
        )
        self.relay = relay
        self.from_block = from_block
        self.max_relayers = max_relayers
        self.info_timeout_s = info_timeout_s
        self.vote_timeout_s = vote_timeout_s
        self.zkey = zkey
        info = RelayInfo(self.address, chain.chain_id, str(self.gate.address))
        self._relay = RelayMachine(info, rate_limit, serving=False)
        self._request_ids = itertools.count(1)
        self._tasks = BackgroundTasks("anonymous votes")
        self._escrow_address: str | None = None  # read from the gate once

    async def __aenter__(self) -> AnonymousVotes:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def start(self) -> None:
        if self.relay:
            self._relay.serving = True
            self.node.host.set_request_handler(
                VOTE_RELAY_PROTOCOL_ID, self._serve, max_request_bytes=MAX_RELAY_REQUEST_BYTES
            )

    async def close(self) -> None:
        self._relay.stop()  # the host keeps the handler until it stops; it now refuses politely
        await self._tasks.cancel_all()

    @property
    def relayed_count(self) -> int:
        return self._relay.relayed_count

    @property
    def refused(self) -> dict[str, int]:
        """Relayer side: refusals by reason."""
        return self._relay.refused

    @property
    def address(self) -> str:
        """This node's wallet: it pays listens (listener) and vote gas (relayer)."""
        return str(self.sender.address)

    async def _call(self, fn: Callable[..., _T], *args: Any) -> _T:
        return await asyncio.to_thread(fn, *args)

    # ---- the gate --------------------------------------------------------------------------------

    def _battle(self, battle_id: bytes) -> GateBattle | None:
        organizer, price, reward_bps, ends_at, size = self.gate.functions.battles(battle_id).call()
        if price == 0:
            return None
        djs = tuple(str(dj) for dj in self.gate.functions.dj_list(battle_id).call())
        return GateBattle(str(organizer), int(price), int(reward_bps), int(ends_at), int(size), djs)

    def _check_payees(self, battle_id: bytes, terms: GateBattle) -> None:
        """Refuse a gate battle whose DJs are not the ones the battle's announcement names (squatted)."""
        stored = self.node.store.get(battle_id)
        spec = stored.envelope.message if stored is not None else None
        escrow = getattr(spec, "escrow", None)
        if escrow is None:
            return  # the announcement names no addresses to compare with
        named = {Web3.to_checksum_address(escrow.dj_a), Web3.to_checksum_address(escrow.dj_b)}
        if {Web3.to_checksum_address(dj) for dj in terms.djs} != named:
            raise AnonymousVoteError(
                f"the gate's battle {battle_id.hex()[:12]} pays other DJs than its announcement names"
            )

    async def escrow_address(self) -> str | None:
        """The BattleEscrow the gate takes its battles' DJs from (None: any two DJs who both sign)."""
        if self._escrow_address is None:
            found = await self._call(self.gate.functions.ESCROW().call)
            self._escrow_address = str(Web3.to_checksum_address(found))
        return None if int(self._escrow_address, 16) == 0 else self._escrow_address

    async def battle(self, battle_id: bytes) -> GateBattle | None:
        """The battle's terms in the gate, or None when the gate has no such battle."""
        return await self._call(self._battle, battle_id)

    def sign_battle_terms(
        self, battle_id: bytes, djs: Sequence[str], *, price_wei: int, ends_at: int, reward_bps: int = 0
    ) -> Signature:
        """This DJ's consent (its wallet key) to opening the battle in the gate with these terms."""
        checksummed = [str(Web3.to_checksum_address(dj)) for dj in djs]
        if self.address not in checksummed:
            raise AnonymousVoteError("only a DJ of the battle signs its gate terms")
        domain = gate_domain(self.chain.chain_id, self.gate.address)
        key = bytes(self.sender.account.key)
        return sign_gate_battle(key, domain, battle_id, checksummed, price_wei, reward_bps, ends_at)

    async def create_battle(
        self,
        battle_id: bytes,
        djs: Sequence[str],
        *,
        price_wei: int,
        ends_at: int,
        reward_bps: int = 0,
        signatures: Sequence[Signature] = (),
    ) -> str:
        """Open the battle in the gate (any node may submit it); the tx hash.

        Choice i of a vote is ``djs[i]`` (DJ A first); ``signatures[i]`` is DJ i's ``sign_battle_terms``
        over the same terms (the gate refuses a battle its DJs did not sign, and one whose DJs are not
        the escrow's for that battle ID). ``ends_at`` is a chain timestamp (seconds).
        """
        if len(signatures) != len(djs):
            raise AnonymousVoteError("the gate needs every DJ's signature over the battle's terms")
        call = self.gate.functions.create_battle(
            battle_id,
            [Web3.to_checksum_address(dj) for dj in djs],
            price_wei,
            reward_bps,
            ends_at,
            [sig.as_abi() for sig in signatures],
        )
        try:
            receipt = await self._call(self.sender.transact, call)
        except TransactionFailedError as exc:
            raise AnonymousVoteError(f"the gate refused the battle: {exc}") from exc
        return "0x" + bytes(receipt["transactionHash"]).hex()

    def _tally(self, battle_id: bytes) -> list[int]:
        djs = self.gate.functions.dj_list(battle_id).call()
        return [int(self.gate.functions.tally(battle_id, choice).call()) for choice in range(len(djs))]

    async def tally(self, battle_id: bytes) -> list[int]:
        """Votes per DJ as the chain counts them (empty if the gate has no such battle)."""
        return await self._call(self._tally, battle_id)

    def _voted_logs(self, battle_id: bytes) -> list[Any]:
        return list(
            self.gate.events.Voted.get_logs(
                from_block=self.from_block, argument_filters={"battle_id": battle_id}
            )
        )

    def _receipt_from_log(self, entry: Any) -> VoteReceipt:
        args = entry["args"]
        return VoteReceipt(
            battle_id=bytes(args["battle_id"]),
            choice=int(args["choice"]),
            nullifier=int(args["nullifier"]),
            tx="0x" + bytes(entry["transactionHash"]).hex(),
            relayer=str(args["relayer"]),
            block=int(entry["blockNumber"]),
        )

    def _find_vote(self, battle_id: bytes, nullifier: int) -> VoteReceipt | None:
        for entry in self._voted_logs(battle_id):
            if int(entry["args"]["nullifier"]) == nullifier:
                return self._receipt_from_log(entry)
        return None

    # ---- listener: identity and registration ------------------------------------------------------

    @property
    def identity_dir(self) -> Path:
        return self.node.home.root / "wallet" / "zk"

    def identity_path(self, battle_id: bytes) -> Path:
        return self.identity_dir / f"{battle_id.hex()}.json"

    def identity(self, battle_id: bytes) -> Identity:
        path = self.identity_path(battle_id)
        if not path.exists():
            raise NotRegisteredError(f"no listen identity for battle {battle_id.hex()[:12]}: register first")
        try:
            return Identity.load(path)
        except (OSError, ValueError) as exc:
            raise AnonymousVoteError(str(exc)) from exc

    def _vote_scope(self, battle_id: bytes) -> int:
        return scope(self.chain.chain_id, self.gate.address, battle_id, Action.VOTE)

    def _leaf_of(self, battle_id: bytes, commitment: int) -> int | None:
        logs = self.gate.events.Registered.get_logs(
            from_block=self.from_block, argument_filters={"battle_id": battle_id}
        )
        for entry in logs:
            if int(entry["args"]["commitment"]) == commitment:
                return int(entry["args"]["leaf_index"])
        return None

    def _new_identity(self, path: Path) -> Identity:
        """Saved before paying: a crash after the payment must not lose the secrets it paid for."""
        wallet = self.identity_dir.parent
        wallet.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.identity_dir.mkdir(mode=0o700, exist_ok=True)
        os.chmod(self.identity_dir, 0o700)
        identity = Identity.generate()
        identity.save(path)
        return identity

    async def _gate_entry(self, battle_id: bytes) -> GateBattle:
        """The battle's gate entry; for a battle this node knows, waiting a little for its DJs to open it.

        DJ A's node opens the entry once DJ B's accept (carrying DJ B's signature) reaches it, so a vote
        right after the accept may come before the transaction.
        """
        terms = await self.battle(battle_id)
        if terms is not None:
            return terms
        short = battle_id.hex()[:12]
        stored = self.node.store.get(battle_id)
        if stored is None:
            raise AnonymousVoteError(
                f"battle {short} has no ListenGate entry (and this node does not know it)"
            )
        if (
            getattr(stored.envelope.message, "escrow", None) is None
            and await self.escrow_address() is not None
        ):
            raise AnonymousVoteError(
                f"battle {short} has no prize escrow, and this ListenGate opens entries only for battles "
                "with one: it takes no votes"
            )
        deadline = monotonic() + self.entry_wait_s
        while monotonic() < deadline:
            await sleep(1.0)
            if (terms := await self.battle(battle_id)) is not None:
                return terms
        raise AnonymousVoteError(
            f"battle {short} has no ListenGate entry yet: its DJs' nodes open it once DJ B accepts (try again)"
        )

    async def register(self, battle_id: bytes, *, max_price_wei: int | None = None) -> Registration:
        """Pay one listen unit from this node's wallet and register a fresh identity commitment.

        Battle IDs are public and the first to create one in the gate sets its price and payees, so the
        node pays at most ``max_price_wei`` (the chain refuses more) and only to the battle's own DJs
        when its announcement names their addresses (escrow terms).
        """
        terms = await self._gate_entry(battle_id)
        if max_price_wei is not None and terms.price_wei > max_price_wei:
            raise AnonymousVoteError(
                f"the gate asks {terms.price_wei} wei per listen, above your maximum of {max_price_wei}"
            )
        self._check_payees(battle_id, terms)
        path = self.identity_path(battle_id)
        if path.exists():  # an earlier attempt saved it; pay for it unless that already happened
            identity = self.identity(battle_id)
            if await self._call(self._leaf_of, battle_id, identity.commitment) is not None:
                raise AlreadyRegisteredError(
                    f"this node already paid a listen unit in {battle_id.hex()[:12]}"
                )
        else:
            identity = self._new_identity(path)
        maximum = terms.price_wei if max_price_wei is None else max_price_wei
        call = self.gate.functions.register(battle_id, identity.commitment, maximum)
        try:
            receipt = await self._call(lambda: self.sender.transact(call, value=terms.price_wei))
        except TransactionFailedError as exc:
            raise AnonymousVoteError(f"registration refused: {exc}") from exc
        events = self.gate.events.Registered().process_receipt(receipt, errors=DISCARD)
        leaf = int(events[0]["args"]["leaf_index"]) if events else -1
        tx = "0x" + bytes(receipt["transactionHash"]).hex()
        log.info("registered a listen unit in %s (leaf %d, tx %s)", battle_id.hex()[:12], leaf, tx)
        return Registration(battle_id, tx, leaf, identity.commitment)

    # ---- listener: voting ------------------------------------------------------------------------

    def _relay_candidates(self) -> list[str]:
        peers = sorted(self.node.peers(), key=lambda p: (p.latency_ms is None, p.latency_ms or 0.0))
        return [p.peer_id for p in peers]

    async def vote(
        self, battle_id: bytes, choice: int | str, *, relay: str | Sequence[str] | None = None
    ) -> VoteReceipt:
        """Cast this node's anonymous vote through a relaying peer: ``relay`` (a peer ID, or peer IDs
        to try in order), else the connected peers, nearest first.

        A refusal or timeout moves on to the next relayer (with a new proof, bound to its address).
        Returns the vote as the chain recorded it.
        """
        index = parse_choice(choice)
        identity = self.identity(battle_id)
        vote_scope = self._vote_scope(battle_id)
        nullifier = identity.nullifier(vote_scope)
        terms = await self.battle(battle_id)
        if terms is None:
            raise VoteRefusedError(f"battle {battle_id.hex()[:12]} is not open in the ListenGate")
        await self._check_votable(battle_id, nullifier, terms, index)
        tree = await self._call(battle_tree, self.gate, battle_id)
        if isinstance(relay, str):
            candidates = [relay]
        elif relay:
            candidates = list(relay)
        else:
            candidates = self._relay_candidates()[: self.max_relayers]
        if not candidates:
            raise NoRelayerError("no connected peer to relay the vote (connect to a relaying peer first)")
        failures: list[str] = []
        for peer in candidates:
            try:
                return await self._vote_via(peer, battle_id, index, identity, tree, vote_scope)
            except _CountedError as counted:
                return counted.receipt
            except _RelayerPassedError as exc:
                log.info("relayer %s did not relay: %s", _short(peer), exc)
                failures.append(f"{_short(peer)}: {exc}")
        raise NoRelayerError("no peer relayed the vote (" + "; ".join(failures) + ")")

    async def _check_votable(self, battle_id: bytes, nullifier: int, terms: GateBattle, choice: int) -> None:
        """Raise when no relayer could get the vote counted."""
        if choice >= len(terms.djs):
            raise VoteRefusedError(f"the battle has {len(terms.djs)} DJs: no choice {choice}")
        if await self._call(self.gate.functions.nullifier_used(nullifier).call):
            found = await self._call(self._find_vote, battle_id, nullifier)
            where = f" (tx {found.tx})" if found else ""
            raise AlreadyVotedError(f"this listen unit already voted in {battle_id.hex()[:12]}{where}")
        if await self._call(self.chain.timestamp) >= terms.ends_at:
            raise VoteRefusedError("voting closed: the battle is over on chain")

    async def _ask(self, peer: str, request: bytes, timeout_s: float) -> RelayReply:
        try:
            raw = await self.node.host.request(
                peer,
                VOTE_RELAY_PROTOCOL_ID,
                request,
                max_response_bytes=MAX_RELAY_REPLY_BYTES,
                timeout_s=timeout_s,
            )
            return decode_reply(raw)
        except (P2PError, ProtocolError) as exc:
            raise _RelayerPassedError(str(exc)) from exc

    async def _vote_via(
        self, peer: str, battle_id: bytes, choice: int, identity: Identity, tree: MerkleTree, vote_scope: int
    ) -> VoteReceipt:
        info = await self._ask(peer, InfoRequest().encode(), self.info_timeout_s)
        if isinstance(info, RelayRefused):
            raise _RelayerPassedError(info.reason)
        if not isinstance(info, RelayInfo):
            raise _RelayerPassedError(f"answered an info request with {type(info).__name__}")
        if info.chain_id != self.chain.chain_id or info.gate.lower() != self.gate.address.lower():
            raise _RelayerPassedError(f"relays for chain {info.chain_id}, gate {info.gate}")
        if info.relayer.lower() == self.address.lower():
            raise _RelayerPassedError("relays from this node's own paying address, which would link the vote")
        signal = vote_signal(choice, Web3.to_checksum_address(info.relayer))
        try:
            proof = await self._call(prove, identity, tree, vote_scope, signal, self.zkey)
        except ProvingError as exc:
            raise AnonymousVoteError(f"cannot prove the vote: {exc}") from exc
        request = VoteRequest(
            battle_id, choice, proof.root, proof.nullifier, tuple(proof.proof.evm_words())
        ).encode()
        try:
            reply = await self._ask(peer, request, self.vote_timeout_s)
        except _RelayerPassedError:
            # It may have sent the transaction before the answer was lost: the chain says.
            await self._raise_if_spent(battle_id, proof.nullifier)
            raise
        if isinstance(reply, RelayRefused):
            await self._raise_if_spent(battle_id, proof.nullifier)
            raise _RelayerPassedError(reply.reason)
        if not isinstance(reply, VoteSubmitted) or reply.nullifier != proof.nullifier:
            raise _RelayerPassedError("answered the vote with something else than its submission")
        found = await self._call(self._confirm, battle_id, reply.tx_hash, proof.nullifier)
        if found is None:
            raise _RelayerPassedError(f"its transaction 0x{reply.tx_hash.hex()} did not count the vote")
        log.info("vote counted in %s via %s (tx %s)", battle_id.hex()[:12], _short(peer), found.tx)
        return found

    async def _raise_if_spent(self, battle_id: bytes, nullifier: int) -> None:
        found = await self._call(self._find_vote, battle_id, nullifier)
        if found is not None:
            raise _CountedError(found)

    def _confirm(self, battle_id: bytes, tx_hash: bytes, nullifier: int) -> VoteReceipt | None:
        """The vote from the relayer's transaction receipt, else from the chain's logs (never its word)."""
        try:
            receipt: TxReceipt | None = self.chain.wait(tx_hash)
        except WAIT_FAILURES as exc:
            log.info("relayed vote transaction 0x%s: %s", tx_hash.hex(), exc)
            receipt = None
        if receipt is not None:
            for event in self.gate.events.Voted().process_receipt(receipt, errors=DISCARD):
                if (
                    int(event["args"]["nullifier"]) == nullifier
                    and bytes(event["args"]["battle_id"]) == battle_id
                ):
                    return self._receipt_from_log(event)
        return self._find_vote(battle_id, nullifier)

    # ---- relayer ---------------------------------------------------------------------------------

    async def _serve(self, data: bytes, peer: str) -> bytes:
        request_id = next(self._request_ids)
        try:
            reply = await self._answer(request_id, data, peer)
        except Exception as exc:  # an answer in every case: a peer must never learn to crash us
            log.warning("vote relay request from %s failed: %r", _short(peer), exc)
            self._relay.abandon(request_id)
            reply = RelayRefused.because(f"relayer error: {type(exc).__name__}", retry=True)
        return reply.encode()

    async def _answer(self, request_id: int, data: bytes, peer: str) -> RelayReply:
        """Carry out the machine's steps for one request until it replies."""
        actions = self._relay.handle(Request(request_id, peer, data), int(monotonic() * 1000))
        while True:
            following: list[RelayAction] = []
            for action in actions:
                if isinstance(action, Reply):
                    return action.reply
                if isinstance(action, Logged):
                    log.info("%s", action.text)
                elif isinstance(action, Watch):
                    self._tasks.spawn(self._watch(action.tx_hash, action.nullifier))
                elif isinstance(action, Preflight):
                    following += self._step(await self._preflight_step(action))
                elif isinstance(action, Submit):
                    following += self._step(await self._submit_step(action))
            if not following:
                raise RuntimeError("the relay machine gave no answer")
            actions = following

    def _step(self, event: Preflighted | Submitted | TxFailed) -> list[RelayAction]:
        return self._relay.handle(event, int(monotonic() * 1000))

    async def _preflight_step(self, action: Preflight) -> Preflighted:
        try:
            refusal = await self._call(self._preflight, action.request)
        except CHAIN_FAILURES as exc:
            log.warning("vote relay: chain node failed: %r", exc)
            return Preflighted(action.request_id, "relayer's chain node failed", retry=True)
        if refusal is None:
            return Preflighted(action.request_id, None)
        return Preflighted(action.request_id, refusal[0], retry=refusal[1])

    async def _submit_step(self, action: Submit) -> Submitted:
        request = action.request
        call = self.gate.functions.vote(
            request.battle_id, request.choice, request.root, request.nullifier, list(request.proof)
        )
        try:
            tx_hash = await self._call(self.sender.submit, call)
        except SEND_FAILURES as exc:
            return Submitted(action.request_id, None, str(exc))
        return Submitted(action.request_id, tx_hash)

    def _preflight(self, request: VoteRequest) -> tuple[str, bool] | None:
        """Everything that would make the transaction fail, checked without spending gas: None, or the
        reason and whether another relayer may do better."""
        gate = self.gate.functions
        if gate.nullifier_used(request.nullifier).call():
            return "nullifier already used", False
        w3 = self.chain.w3
        if self.chain.balance(self.address) < VOTE_GAS_BUDGET * int(w3.eth.gas_price):
            return "relayer has too little ETH for gas", True
        call = gate.vote(
            request.battle_id, request.choice, request.root, request.nullifier, list(request.proof)
        )
        try:
            call.call({"from": self.address})  # the gate's own checks, proof included, as an eth_call
        except REVERTS as exc:
            reason = revert_reason(exc)
            if (
                isinstance(exc, Web3RPCError)
                and not isinstance(exc, ContractLogicError)
                and "revert" not in str(exc)
            ):
                raise  # the chain node failed, the vote was not judged
            return reason, False
        return None

    async def _watch(self, tx_hash: bytes, nullifier: int) -> None:
        """Tell the machine when a relayed transaction failed, so the listener can use another relayer."""
        try:
            await self._call(self.chain.wait, tx_hash)
        except WAIT_FAILURES as exc:
            log.warning("relayed vote 0x%s failed: %s", tx_hash.hex(), exc)
            unused = not await self._call(self.gate.functions.nullifier_used(nullifier).call)
            for action in self._step(TxFailed(nullifier, unused)):
                if isinstance(action, Logged):
                    log.info("%s", action.text)

    # ---- reports ---------------------------------------------------------------------------------

    def _rows(self, battle_id: bytes) -> dict[str, Any]:
        path = self.identity_path(battle_id)
        mine = self.identity(battle_id).nullifier(self._vote_scope(battle_id)) if path.exists() else None
        cast, relayed = [], []
        for entry in self._voted_logs(battle_id):
            vote = self._receipt_from_log(entry)
            if vote.nullifier == mine:
                cast.append(vote.row())
            if vote.relayer.lower() == self.address.lower():
                relayed.append(vote.row())
        return {
            "battle_id": battle_id.hex(),
            "tally": self._tally(battle_id),
            "cast": cast,
            "relayed": relayed,
        }

    async def report(self, battle_id: bytes) -> dict[str, Any]:
        """``{"battle_id", "tally", "cast", "relayed"}``: the tally and this node's ``{"tx", "nullifier"}``
        rows (votes it cast, votes it relayed), all read from the chain."""
        return await self._call(self._rows, battle_id)


__all__ = [
    "AlreadyRegisteredError",
    "AlreadyVotedError",
    "AnonymousVoteError",
    "AnonymousVotes",
    "GateBattle",
    "NoRelayerError",
    "NotRegisteredError",
    "Registration",
    "VoteReceipt",
    "VoteRefusedError",
    "nullifier_hex",
    "parse_choice",
]
