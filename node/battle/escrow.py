"""A battle's prize escrow, node side: stakes, the committee's addresses, attestations, payout, refunds.

Money never passes through djmesh: it moves between the peers' wallets and the BattleEscrow contract
(ledger/evm). This service does, on each node, the part of the flow that node is responsible for:

- every node publishes its ``wallet_binding`` (EVM address, proved by that key) on its author topic,
  and again on a battle's topic when it joins an escrow battle, so the DJs can map the committee;
- DJ A opens the escrow entry (with a stake) before it publishes the announcement that names it;
  DJ B checks the entry and stakes before accepting; anyone may sponsor;
- once the committee is fixed (``JudgeNow``), each DJ maps the members to their bound addresses and
  proposes that list on chain; a member without a binding means no payout (logged), only refunds;
- after the result, each committee member checks the bundle (``attest_bundle``) and publishes a
  ``battle_attestation``; the collector (the winning DJ by default) keeps the valid ones, drops
  forged or wrong ones with a logged reason, and submits the payout at 2f+1;
- after the deadline without a payout, each staker's node takes its stake back.

Chain calls block (web3), so they run in ``asyncio.to_thread``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any, TypeVar

from eth_utils.address import to_checksum_address

from djmesh.ledger.evm.attest import attest_bundle
from djmesh.ledger.evm.chain import EvmChain
from djmesh.ledger.evm.eip712 import Signature, recover_signer
from djmesh.ledger.evm.errors import LedgerError, TransactionFailedError
from djmesh.ledger.evm.escrow import Attestation, Escrow, EscrowBattle, committee_order, quorum, result_digest
from djmesh.ledger.evm.sender import TxSender
from djmesh.node.battle.service import BattleService, DjSet
from djmesh.node.clock import now_ms as _now_ms
from djmesh.node.errors import NodeError
from djmesh.node.events import MessageStored
from djmesh.node.node import Node
from djmesh.node.tasks import BackgroundTasks
from djmesh.protocol import peer_id_from_public_key, public_key_from_peer_id
from djmesh.protocol.battle import (
    BattleAnnounce,
    BattleAttestation,
    BattleJoin,
    BattleResult,
    EscrowTerms,
    JudgeNow,
    Rules,
    battle_topic,
)
from djmesh.protocol.consensus import Result, best_result, verify_bundle_envelope
from djmesh.protocol.envelope import SignedEnvelope
from djmesh.protocol.errors import ProtocolError
from djmesh.protocol.messages import WalletBinding
from djmesh.protocol.topics import author_topic
from djmesh.protocol.wallet import WalletBindingError, sign_binding, verify_binding

log = logging.getLogger(__name__)
_T = TypeVar("_T")

POLL_S = 0.5
#: how long after the reveal deadline an attestation may wait for the bundle it signs
BUNDLE_GRACE_MS = 60_000
AGREE_ATTEMPTS = 3


def _tx_hex(tx_hash: Any) -> str:
    return "0x" + bytes(tx_hash).hex()


def _short(battle_id: bytes) -> str:
    return battle_id.hex()[:12]


@dataclass
class EscrowBattleState:
    """What this node knows and did about one battle's escrow."""

    battle_id: bytes
    spec: BattleAnnounce
    dj_keys: dict[str, bytes]
    committee: tuple[str, ...] | None = None  # the members' EVM addresses, canonical order
    member_address: dict[bytes, str] = field(default_factory=dict)  # member key -> checksummed address
    committee_problem: str | None = None
    agree_tx: str | None = None
    attested: set[bytes] = field(default_factory=set)  # result hashes this node signed
    attestations: dict[bytes, SignedEnvelope] = field(default_factory=dict)  # by content ID
    valid: dict[tuple[bytes, str], dict[str, Attestation]] = field(default_factory=dict)
    dropped: dict[bytes, str] = field(default_factory=dict)  # attestation content ID -> reason
    counted: set[bytes] = field(default_factory=set)  # content IDs of the valid attestations
    payout_tx: str | None = None
    refund_tx: str | None = None
    paying: bool = False
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    @property
    def terms(self) -> EscrowTerms:
        assert self.spec.escrow is not None
        return self.spec.escrow


class BattleEscrowService:
    """Runs the escrow flow for battles whose announcement names our chain and contract.

    ``collect``: submit payouts when 2f+1 valid attestations are here: None (default) only on the
    winning DJ's node, True on this node whoever won, False never. ``attest``: sign results as a
    committee member (False models a member whose wallet stays offline). ``settle_s``: how long a
    member waits after the first verified result for other members' bundles, so members tend to sign
    the same one (each also signs any lower-ID bundle that arrives later).
    """

    def __init__(
        self,
        node: Node,
        battles: BattleService,
        chain: EvmChain,
        sender: TxSender,
        escrow_address: str,
        *,
        collect: bool | None = None,
        attest: bool = True,
        auto_refund: bool = True,
        settle_s: float = 1.0,
        from_block: int = 0,
    ) -> None:
        self.node = node
        self.battles = battles
        self.chain = chain
        self.sender = sender
        self.escrow = Escrow(chain, escrow_address, sender)
        self.address: str = sender.address
        self.collect = collect
        self.attest = attest
        self.auto_refund = auto_refund
        self.settle_s = settle_s
        self.from_block = from_block
        self.states: dict[bytes, EscrowBattleState] = {}
        self._wallets: dict[bytes, tuple[int, str]] = {}  # peer key -> (created_at, address)
        self._tasks = BackgroundTasks("battle escrow")

    async def __aenter__(self) -> BattleEscrowService:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def start(self) -> None:
        self._spawn(self._follow(self.node.events()))
        self.battles.listeners.append(self._on_action)
        for stored in self.node.store.query(kind=WalletBinding.KIND, limit=100_000):
            self._on_binding(stored.envelope)
        if self.wallet_of(self.node.public_key) != self.address:
            await self.publish_binding()
        for stored in self.node.store.query(kind=BattleAnnounce.KIND, limit=10_000):
            self._state(stored.envelope.content_id)
        self._spawn(self._tick_forever())

    async def close(self) -> None:
        with contextlib.suppress(ValueError):
            self.battles.listeners.remove(self._on_action)
        await self._tasks.cancel_all()

    def _spawn(self, coroutine: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        return self._tasks.spawn(coroutine)

    async def _call(self, fn: Callable[..., _T], *args: Any) -> _T:
        return await asyncio.to_thread(fn, *args)

    # -- wallet bindings -----------------------------------------------------------------------

    def _private_key(self) -> bytes:
        return bytes(self.sender.account.key)

    async def publish_binding(self, battle: bytes | None = None) -> SignedEnvelope:
        """Bind this node's EVM address to its peer ID (on a battle's topic too, given ``battle``)."""
        binding = sign_binding(self._private_key(), self.node.peer_id, battle=battle)
        return await self.node.publish(binding)

    def _on_binding(self, envelope: SignedEnvelope) -> None:
        try:
            address = to_checksum_address(verify_binding(envelope))
        except WalletBindingError as exc:
            log.info(
                "wallet binding %s from %s dropped: %s",
                _short(envelope.content_id),
                envelope.author_peer_id,
                exc,
            )
            return
        known = self._wallets.get(envelope.author)
        if known is None or envelope.created_at_ms >= known[0]:
            self._wallets[envelope.author] = (envelope.created_at_ms, address)

    def wallet_of(self, peer_key: bytes) -> str | None:
        """The EVM address ``peer_key`` proved to control (its newest valid binding), if known here."""
        known = self._wallets.get(peer_key)
        return known[1] if known else None

    async def find_wallet(self, peer_id: str, timeout_s: float = 10.0) -> str:
        """The peer's bound address, fetching its author topic if needed; NodeError if none comes."""
        key = public_key_from_peer_id(peer_id)
        if (found := self.wallet_of(key)) is not None:
            return found
        topic = author_topic(key)
        await self.node.join_topic(topic, persist=False)
        deadline = time.monotonic() + timeout_s
        while (found := self.wallet_of(key)) is None:
            if time.monotonic() > deadline:
                raise NodeError(f"{peer_id} has published no wallet binding (no EVM address to pay)")
            with contextlib.suppress(Exception):
                await self.node.sync([topic])
            await asyncio.sleep(POLL_S)
        return found

    # -- DJs and sponsors ----------------------------------------------------------------------

    async def announce(
        self,
        opponent: str,
        my_set: DjSet,
        *,
        rules: Rules,
        stake_wei: int = 0,
        opponent_address: str | None = None,
        payout_window_s: int = 3600,
        start_in_s: float = 20.0,
        accept_s: float | None = None,
        commit_seconds: int = 30,
        reveal_seconds: int = 30,
        title: str = "",
    ) -> bytes:
        """Challenge ``opponent`` with a prize escrow: open it on chain with our stake, then announce.

        The escrow deadline is ``payout_window_s`` after the reveal deadline (chain time). Returns the
        battle ID.
        """
        if stake_wei < 0 or payout_window_s < 0:
            raise NodeError("the stake and the payout window cannot be negative")
        try:
            dj_b = to_checksum_address(opponent_address or await self.find_wallet(opponent))
        except ValueError as exc:
            raise NodeError(f"not an EVM address: {opponent_address!r}") from exc
        chain_now = await self._call(self.chain.timestamp)

        def terms(reveal_by_ms: int) -> EscrowTerms:
            now_s = max(chain_now, int(time.time()))
            until_reveal_s = max(0, (reveal_by_ms - _now_ms()) // 1000 + 1)
            return EscrowTerms(
                chain_id=self.chain.chain_id,
                contract=bytes.fromhex(self.escrow.address[2:]),
                dj_a=bytes.fromhex(self.address[2:]),
                dj_b=bytes.fromhex(dj_b[2:]),
                deadline=now_s + until_reveal_s + payout_window_s,
            )

        try:
            envelope = self.battles.sign_announce(
                opponent,
                rules=rules,
                start_in_s=start_in_s,
                accept_s=accept_s,
                commit_seconds=commit_seconds,
                reveal_seconds=reveal_seconds,
                title=title,
                escrow=terms,
            )
        except (ProtocolError, ValueError) as exc:
            raise NodeError(f"cannot announce: {exc}") from exc
        spec = envelope.message
        assert isinstance(spec, BattleAnnounce) and spec.escrow is not None
        try:
            receipt = await self._call(
                self.escrow.open, envelope.content_id, dj_b, spec.escrow.deadline, stake_wei
            )
        except LedgerError as exc:
            raise NodeError(f"cannot open the prize escrow: {exc}") from exc
        log.info(
            "battle %s: escrow opened with %d wei (tx %s)",
            _short(envelope.content_id),
            stake_wei,
            _tx_hex(receipt["transactionHash"]),
        )
        await self.battles.publish_announce(envelope, my_set)
        return envelope.content_id

    async def check_entry(self, battle_id: bytes) -> EscrowBattle:
        """The battle's escrow entry on chain, refused unless it is what the announcement promised."""
        state = self._state(battle_id)
        if state is None:
            raise NodeError(f"battle {battle_id.hex()} has no prize escrow on this chain and contract")
        entry = await self._call(self.escrow.battle, battle_id)
        if entry is None:
            raise NodeError("the prize escrow was never opened on chain")
        terms = state.terms
        expected = (to_checksum_address(terms.dj_a), to_checksum_address(terms.dj_b), terms.deadline)
        if (to_checksum_address(entry.dj_a), to_checksum_address(entry.dj_b), entry.deadline) != expected:
            raise NodeError("the escrow entry on chain differs from the announced terms (DJs or deadline)")
        return entry

    async def accept(self, battle_id: bytes, my_set: DjSet, *, stake_wei: int = 0) -> None:
        """DJ B: check the escrow entry names us, stake, then accept the challenge."""
        state = self._state(battle_id)
        if state is None:
            raise NodeError(f"battle {battle_id.hex()} has no prize escrow on this chain and contract")
        if to_checksum_address(state.terms.dj_b) != self.address:
            raise NodeError(
                f"the challenge names {to_checksum_address(state.terms.dj_b)} as your address, "
                f"but this wallet is {self.address}"
            )
        await self.check_entry(battle_id)
        if stake_wei > 0:
            await self.stake(battle_id, stake_wei)
        await self.battles.accept(battle_id, my_set)

    async def stake(self, battle_id: bytes, amount_wei: int) -> str:
        """Add to the prize (DJ B or any sponsor); returns the transaction hash."""
        if amount_wei <= 0:
            raise NodeError("a stake must be more than 0 wei")
        await self.check_entry(battle_id)
        await self.node.join_topic(battle_topic(battle_id))  # a staker follows the battle's escrow
        try:
            receipt = await self._call(self.escrow.stake, battle_id, amount_wei)
        except LedgerError as exc:
            raise NodeError(f"stake refused: {exc}") from exc
        return _tx_hex(receipt["transactionHash"])

    sponsor = stake

    async def refund(self, battle_id: bytes) -> str:
        """Take our stake back (from the deadline on, when nobody was paid)."""
        try:
            receipt = await self._call(self.escrow.refund, battle_id)
        except LedgerError as exc:
            raise NodeError(f"refund refused: {exc}") from exc
        tx = _tx_hex(receipt["transactionHash"])
        state = self.states.get(battle_id)
        if state is not None:
            state.refund_tx = tx
        log.info("battle %s: stake refunded (tx %s)", _short(battle_id), tx)
        return tx

    # -- following the battles -----------------------------------------------------------------

    def _state(self, battle_id: bytes) -> EscrowBattleState | None:
        """The escrow state of a battle on our chain and contract (None for any other battle)."""
        state = self.states.get(battle_id)
        if state is not None:
            return state
        stored = self.node.store.get(battle_id)
        if stored is None or not isinstance(stored.envelope.message, BattleAnnounce):
            return None
        spec = stored.envelope.message
        if spec.escrow is None:
            return None
        if spec.escrow.chain_id != self.chain.chain_id or to_checksum_address(
            spec.escrow.contract
        ) != to_checksum_address(self.escrow.address):
            log.info(
                "battle %s: its escrow is contract %s on chain %d; this node uses %s on chain %d",
                _short(battle_id),
                to_checksum_address(spec.escrow.contract),
                spec.escrow.chain_id,
                self.escrow.address,
                self.chain.chain_id,
            )
            return None
        state = EscrowBattleState(battle_id, spec, {"a": stored.envelope.author, "b": spec.opponent})
        self.states[battle_id] = state
        return state

    async def _follow(self, events: Any) -> None:
        async for event in events:
            if not isinstance(event, MessageStored):
                continue
            try:
                await self._on_message(event.envelope)
            except Exception:  # one bad message must not stop the service
                log.exception("battle escrow failed on %s", event.envelope.kind)

    async def _on_message(self, envelope: SignedEnvelope) -> None:
        message = envelope.message
        if isinstance(message, WalletBinding):
            self._on_binding(envelope)
        elif isinstance(message, BattleAnnounce):
            self._state(envelope.content_id)
        elif isinstance(message, BattleJoin) and envelope.author == self.node.public_key:
            if self._state(message.battle) is not None:
                await self.publish_binding(battle=message.battle)
        elif isinstance(message, BattleResult):
            state = self._state(message.battle)
            if state is not None:
                self._spawn(self._attest_after_settling(state))
                self._evaluate_all(state)
        elif isinstance(message, BattleAttestation):
            state = self._state(message.battle)
            decided = state is not None and (
                envelope.content_id in state.dropped or envelope.content_id in state.counted
            )
            if state is not None and not decided:
                state.attestations.setdefault(envelope.content_id, envelope)
                self._evaluate_all(state)

    def _on_action(self, battle_id: bytes, action: object) -> None:
        if not isinstance(action, JudgeNow):
            return
        state = self._state(battle_id)
        if state is not None and self.node.public_key in state.dj_keys.values():
            self._spawn(self._agree_committee(state, action.committee))

    async def _tick_forever(self) -> None:
        while True:
            chain_now_s: int | None = None  # read once per round, only if some battle may refund
            for state in list(self.states.values()):
                try:
                    if self._may_refund(state) and chain_now_s is None:
                        chain_now_s = await self._call(self.chain.timestamp)
                    await self._tick(state, chain_now_s)
                except Exception:
                    log.exception("battle %s: escrow tick failed", _short(state.battle_id))
            await asyncio.sleep(POLL_S)

    def _may_refund(self, state: EscrowBattleState) -> bool:
        return self.auto_refund and state.refund_tx is None and state.payout_tx is None

    async def _tick(self, state: EscrowBattleState, chain_now_s: int | None) -> None:
        if state.attestations:
            self._evaluate_all(state)
        if state.payout_tx is None and not state.paying and self._ready_claim(state) is not None:
            await self._pay(state)
        if self._may_refund(state) and chain_now_s is not None and chain_now_s >= state.terms.deadline:
            await self._refund_if_staked(state)

    async def _refund_if_staked(self, state: EscrowBattleState) -> None:
        entry = await self._call(self.escrow.battle, state.battle_id)
        if entry is None:
            state.refund_tx = ""
            return
        if entry.settled:  # someone was paid: nothing to refund
            state.payout_tx = await self._payout_tx(state.battle_id) or ""
            return
        if await self._call(self.escrow.stake_of, state.battle_id, self.address) <= 0:
            state.refund_tx = ""  # nothing of ours to take back
            return
        log.info(
            "battle %s: deadline passed without a payout; taking our stake back", _short(state.battle_id)
        )
        try:
            await self.refund(state.battle_id)
        except NodeError as exc:
            log.warning("battle %s: %s", _short(state.battle_id), exc)
            state.refund_tx = ""

    # -- the committee -------------------------------------------------------------------------

    def _map_committee(self, state: EscrowBattleState, members: tuple[bytes, ...]) -> tuple[str, ...]:
        """The members' bound addresses in canonical order, or NodeError saying why there is none."""
        if not members:
            raise NodeError("the battle has no committee (nobody joined to judge)")
        missing = [peer_id_from_public_key(m) for m in members if self.wallet_of(m) is None]
        if missing:
            raise NodeError(f"committee member(s) without a wallet binding: {', '.join(missing)}")
        addresses = {m: self.wallet_of(m) or "" for m in members}
        if len(set(addresses.values())) != len(members):
            raise NodeError("two committee members bound the same EVM address")
        djs = {to_checksum_address(state.terms.dj_a), to_checksum_address(state.terms.dj_b)}
        if djs & set(addresses.values()):
            raise NodeError("a committee member bound a DJ's EVM address")
        state.member_address = addresses
        return tuple(committee_order(addresses.values()))

    def _committee(self, state: EscrowBattleState) -> tuple[str, ...] | None:
        if state.committee is not None:
            return state.committee
        battle = self.battles.battles.get(state.battle_id)
        if battle is None:
            return None
        try:
            state.committee = self._map_committee(state, battle.machine.committee())
        except NodeError:
            return None
        return state.committee

    async def _agree_committee(self, state: EscrowBattleState, members: tuple[bytes, ...]) -> None:
        """A DJ proposes the committee's addresses on chain; bindings may still be arriving."""
        deadline = time.monotonic() + max(1.0, (state.spec.reveal_by - _now_ms()) / 1000)
        while True:
            try:
                state.committee = self._map_committee(state, members)
                break
            except NodeError as exc:
                if time.monotonic() > deadline:
                    state.committee_problem = str(exc)
                    log.warning(
                        "battle %s: no payout possible, %s; the stakes are refunded after the deadline",
                        _short(state.battle_id),
                        exc,
                    )
                    return
            await asyncio.sleep(POLL_S)
        try:
            await self.check_entry(state.battle_id)
        except NodeError as exc:
            state.committee_problem = f"will not agree on the committee: {exc}"
            log.warning("battle %s: %s", _short(state.battle_id), state.committee_problem)
            return
        for attempt in range(AGREE_ATTEMPTS):
            try:
                receipt = await self._call(self.escrow.agree_committee, state.battle_id, state.committee)
                break
            except LedgerError as exc:
                # When both DJs propose at once, the other's proposal may land between our gas
                # estimate and our transaction, which then needs more gas (it fixes the committee).
                entry = await self._call(self.escrow.battle, state.battle_id)
                if entry is not None and entry.committee_size == 0 and attempt + 1 < AGREE_ATTEMPTS:
                    log.info("battle %s: proposing the committee again (%s)", _short(state.battle_id), exc)
                    continue
                state.committee_problem = f"agreeing on the committee failed: {exc}"
                log.warning("battle %s: %s", _short(state.battle_id), state.committee_problem)
                return
        state.agree_tx = _tx_hex(receipt["transactionHash"])
        log.info(
            "battle %s: proposed committee %s on chain (tx %s)",
            _short(state.battle_id),
            ", ".join(state.committee),
            state.agree_tx,
        )

    # -- attesting (committee members) ---------------------------------------------------------

    def _verified_results(self, state: EscrowBattleState) -> dict[bytes, tuple[SignedEnvelope, Result]]:
        """Judged results held for the battle that verify and rest on its drawn committee, by result hash."""
        battle = self.battles.battles.get(state.battle_id)
        committee = battle.machine.committee() if battle is not None else ()
        out: dict[bytes, tuple[SignedEnvelope, Result]] = {}
        for envelope in self.node.store.by_topics(
            [battle_topic(state.battle_id)], kinds=(BattleResult.KIND,), limit=256
        ):
            try:
                result = verify_bundle_envelope(envelope)
            except ProtocolError:
                continue
            if (
                result.battle_id == state.battle_id
                and result.forfeit is None
                and result.committee == committee
            ):
                out.setdefault(result.result_hash, (envelope, result))
        return out

    async def _attest_after_settling(self, state: EscrowBattleState) -> None:
        battle = self.battles.battles.get(state.battle_id)
        if not self.attest or battle is None or self.node.public_key not in battle.machine.committee():
            return
        await asyncio.sleep(self.settle_s)
        async with state.lock:
            results = self._verified_results(state)
            best = best_result(r for _, r in results.values())
            if best is None or best.result_hash in state.attested:
                return
            chosen = results[best.result_hash][0]
            try:
                entry = await self.check_entry(state.battle_id)
                agreed = self._map_committee(state, best.committee)
                if entry.committee_size == 0 or entry.committee_hash != self.escrow.committee_hash(agreed):
                    raise NodeError("the committee the DJs agreed on chain is not the result's")
                attestation = attest_bundle(self._private_key(), self.escrow.domain, entry, chosen.wire)
            except (NodeError, LedgerError) as exc:
                log.warning("battle %s: will not attest: %s", _short(state.battle_id), exc)
                return
            state.attested.add(best.result_hash)
            await self.node.publish(
                BattleAttestation(
                    battle=state.battle_id,
                    result=attestation.result_hash,
                    winner=bytes.fromhex(attestation.winner[2:]),
                    signature=attestation.signature.to_bytes(),
                )
            )
            log.info(
                "battle %s: attested result %s (winner %s)",
                _short(state.battle_id),
                _short(best.result_hash),
                attestation.winner,
            )

    # -- collecting and paying -----------------------------------------------------------------

    def _evaluate_all(self, state: EscrowBattleState) -> None:
        """Decide on every attestation still pending (those waiting for their bundle or the committee)."""
        for envelope in list(state.attestations.values()):
            self._evaluate(state, envelope)

    def _evaluate(self, state: EscrowBattleState, envelope: SignedEnvelope) -> None:
        """Count a valid attestation, drop a wrong one with its reason, or leave it for later."""
        message = envelope.message
        assert isinstance(message, BattleAttestation)
        committee = self._committee(state)
        battle = self.battles.battles.get(state.battle_id)
        if committee is None or battle is None:
            return  # bindings or the committee not known yet: look again later
        reason = self._reject_reason(state, envelope, message, battle.machine.committee())
        if reason == "":
            return  # its bundle has not arrived yet
        if reason is not None:
            state.dropped[envelope.content_id] = reason
            state.attestations.pop(envelope.content_id, None)
            log.info(
                "battle %s: attestation from %s dropped: %s",
                _short(state.battle_id),
                envelope.author_peer_id,
                reason,
            )
            return
        winner = to_checksum_address(message.winner)
        signer = state.member_address[envelope.author]
        group = state.valid.setdefault((message.result, winner), {})
        group.setdefault(
            signer,
            Attestation(
                signer, state.battle_id, winner, message.result, Signature.from_bytes(message.signature)
            ),
        )
        state.attestations.pop(envelope.content_id, None)
        state.counted.add(envelope.content_id)

    def _reject_reason(
        self,
        state: EscrowBattleState,
        envelope: SignedEnvelope,
        message: BattleAttestation,
        members: tuple[bytes, ...],
    ) -> str | None:
        """None: valid; "": undecided (bundle missing); otherwise why it is dropped."""
        if envelope.author not in members:
            return "its author is not on the committee"
        bound = state.member_address.get(envelope.author)
        if bound is None:
            return "its author has no wallet binding"
        winner = to_checksum_address(message.winner)
        djs = {"a": to_checksum_address(state.terms.dj_a), "b": to_checksum_address(state.terms.dj_b)}
        if winner not in djs.values():
            return "it names neither DJ as the winner"
        digest = result_digest(self.escrow.domain, state.battle_id, winner, message.result)
        signer = recover_signer(digest, Signature.from_bytes(message.signature))
        if signer is None:
            return "its signature is invalid"
        if signer != bound:
            return f"signed by {signer}, not by the member's bound address {bound}"
        held = self._verified_results(state).get(message.result)
        if held is None:
            if _now_ms() > state.spec.reveal_by + BUNDLE_GRACE_MS:
                return "no verified bundle of the result it signs arrived"
            return ""
        result = held[1]
        if djs[result.winner] != winner:
            return f"the result it signs names DJ {result.winner.upper()}, not {winner}"
        return None

    def _ready_claim(self, state: EscrowBattleState) -> tuple[bytes, str, list[Attestation]] | None:
        committee = self._committee(state)
        if committee is None:
            return None
        needed = quorum(len(committee))
        for (result_hash, winner), group in state.valid.items():
            if len(group) < needed:
                continue
            if not self._collects(state, winner):
                return None
            return result_hash, winner, list(group.values())
        return None

    def _collects(self, state: EscrowBattleState, winner: str) -> bool:
        if self.collect is not None:
            return self.collect
        return winner == self.address  # the winning DJ's node

    async def _pay(self, state: EscrowBattleState) -> None:
        claim = self._ready_claim(state)
        committee = state.committee
        if claim is None or committee is None:
            return
        result_hash, winner, attestations = claim
        state.paying = True
        try:
            entry = await self._call(self.escrow.battle, state.battle_id)
            if entry is None:
                return
            if entry.settled:
                state.payout_tx = await self._payout_tx(state.battle_id) or ""
                return
            if entry.committee_size == 0:
                return  # the DJs have not both proposed it yet: try again on the next tick
            if entry.committee_hash != self.escrow.committee_hash(committee):
                if state.committee_problem is None:
                    state.committee_problem = "the committee agreed on chain differs from the battle's"
                    log.warning(
                        "battle %s: %s: no payout from here", _short(state.battle_id), state.committee_problem
                    )
                return
            try:
                receipt = await self._call(
                    self.escrow.payout, state.battle_id, winner, result_hash, committee, attestations
                )
            except TransactionFailedError as exc:
                if "already paid out" in str(exc):
                    state.payout_tx = await self._payout_tx(state.battle_id) or ""
                else:
                    log.warning("battle %s: payout refused: %s", _short(state.battle_id), exc)
                return
            state.payout_tx = _tx_hex(receipt["transactionHash"])
            log.info(
                "battle %s: paid %s with %d attestations (tx %s)",
                _short(state.battle_id),
                winner,
                len(attestations),
                state.payout_tx,
            )
        finally:
            state.paying = False

    # -- reading back ----------------------------------------------------------------------------

    def _paid_log(self, battle_id: bytes) -> Any:
        logs = self.escrow.contract.events.Paid.get_logs(
            argument_filters={"battle_id": battle_id}, from_block=self.from_block
        )
        return logs[0] if logs else None

    async def _payout_tx(self, battle_id: bytes) -> str | None:
        found = await self._call(self._paid_log, battle_id)
        return None if found is None else (_tx_hex(found["transactionHash"]))

    def _payout_summary(self, battle_id: bytes) -> dict[str, str] | None:
        paid = self._paid_log(battle_id)
        if paid is None:
            return None
        winner = to_checksum_address(paid["args"]["winner"])
        block = int(paid["blockNumber"])
        before = int(self.chain.w3.eth.get_balance(winner, block_identifier=block - 1))
        return {
            "winner_address": winner,
            "winner_balance_before_wei": str(before),
            "prize_wei": str(int(paid["args"]["amount"])),
            "escrow": self.escrow.address,
            "payout_tx": (_tx_hex(paid["transactionHash"])),
        }

    async def payout_summary(self, battle_id: bytes) -> dict[str, str] | None:
        """The payout as the chain records it (the demo's JSON fields), or None before any payout.

        ``winner_address``, ``winner_balance_before_wei`` (at the block before the payout),
        ``prize_wei`` (from the Paid event), ``escrow`` (contract), ``payout_tx``; wei as decimal text.
        """
        return await self._call(self._payout_summary, battle_id)

    async def wait_payout(self, battle_id: bytes, timeout_s: float) -> dict[str, str] | None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            summary = await self.payout_summary(battle_id)
            if summary is not None:
                return summary
            await asyncio.sleep(POLL_S)
        return None

    def status(self, battle_id: bytes) -> dict[str, Any]:
        """What this node knows of a battle's escrow (JSON-able): committee, attestations, payout."""
        state = self.states.get(battle_id)
        if state is None:
            return {}
        committee = self._committee(state)
        return {
            "escrow": self.escrow.address,
            "deadline": state.terms.deadline,
            "committee": list(committee) if committee is not None else None,
            "committee_problem": state.committee_problem,
            "quorum": quorum(len(committee)) if committee else None,
            "valid_attestations": {
                f"{result.hex()}/{winner}": len(group) for (result, winner), group in state.valid.items()
            },
            "dropped_attestations": dict(
                sorted((cid.hex(), reason) for cid, reason in state.dropped.items())
            ),
            "attested": sorted(h.hex() for h in state.attested),
            "payout_tx": state.payout_tx or None,
            "refund_tx": state.refund_tx or None,
        }
