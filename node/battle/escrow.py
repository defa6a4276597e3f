"""A battle's prize escrow, node side: it carries chain calls, bytes and clocks for ``protocol/escrow.py``.

Money never passes through djmesh: it moves between the peers' wallets and the BattleEscrow contract
(ledger/evm). The rules (what a member attests, which attestations count, when to pay, whom to report
for equivocation, when stakes and seat bonds go back) live in ``EscrowMachine``; this service feeds it
what the chain and the mesh say and carries out what it asks:

- every node publishes its ``wallet_binding`` (EVM address, proved by that key) on its author topic,
  and again on a battle's topic when it joins an escrow battle, so the DJs can map the committee; a
  viewer joining a battle that asks a seat bond posts it;
- DJ A opens the escrow entry (with a stake and the seat bond it asks) before it publishes the
  announcement that names it; DJ B checks the entry and stakes before accepting; anyone may sponsor;
  when a seat bond is asked, a DJ's roster keeps only viewers who posted it;
- once the committee is fixed (``JudgeNow``), each DJ maps the members to their bound addresses and
  proposes that list on chain; a member without a binding means no payout (logged), only refunds;
- the machine's actions become transactions and publications: ``Attest`` a signed
  ``battle_attestation``, ``Pay``/``Report``/``Refund``/``PostBond``/``ReleaseBond`` escrow calls.

Chain calls block (web3), so they run in ``asyncio.to_thread``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any, TypeVar

from eth_utils.address import to_checksum_address

from djmesh.ledger.evm.chain import EvmChain
from djmesh.ledger.evm.eip712 import Signature, recover_signer
from djmesh.ledger.evm.errors import LedgerError
from djmesh.ledger.evm.escrow import (
    Attestation,
    Escrow,
    EscrowBattle,
    committee_order,
    quorum,
    result_digest,
    sign_result,
)
from djmesh.ledger.evm.sender import TxSender
from djmesh.node.battle.service import BattleService, DjSet
from djmesh.node.clock import monotonic, wait_set
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
from djmesh.protocol.consensus import verify_bundle_envelope
from djmesh.protocol.envelope import SignedEnvelope
from djmesh.protocol.errors import ProtocolError
from djmesh.protocol.escrow import (
    Attest,
    AttestationHeld,
    Drawn,
    Dropped,
    EntryRead,
    EscrowAction,
    EscrowEvent,
    EscrowMachine,
    Joined,
    Pay,
    PostBond,
    Refund,
    ReleaseBond,
    Report,
    ResultHeld,
    Sent,
    Tick,
    Vanished,
)
from djmesh.protocol.messages import WalletBinding
from djmesh.protocol.topics import author_topic
from djmesh.protocol.wallet import WalletBindingError, sign_binding, verify_binding

log = logging.getLogger(__name__)
_T = TypeVar("_T")

#: how often a battle's escrow entry is read while a step waits on it, and otherwise (for the deadline):
#: chain reads stay bounded whatever wakes the tick loop
ENTRY_POLL_S = 1.0
IDLE_ENTRY_POLL_S = 5.0
#: the tick loop sleeps until the next entry read or machine deadline (``next_deadline``), or until an
#: event (a message, a battle's action, a transaction's outcome) wakes it; at most this long, as a safety net
MAX_IDLE_S = IDLE_ENTRY_POLL_S
SYNC_AGAIN_S = 2.0  # how long to wait for a peer's wallet binding before asking its author topic again
#: while a paying or reporting node lacks a quorum of attestations, it fetches the battle's topic again
#: after this pause, doubling up to the cap (gossip never resends a message it lost)
ATTESTATION_SYNC_S = 2.0
MAX_ATTESTATION_SYNC_S = 60.0
AGREE_ATTEMPTS = 3
#: battles followed at once; beyond it the oldest that are finished or not ours are forgotten (anyone can
#: announce an escrow battle naming our chain for free; a forgotten one is rebuilt from the store if it speaks)
MAX_ESCROW_BATTLES = 1024


def _tx_hex(tx_hash: Any) -> str:
    return "0x" + bytes(tx_hash).hex()


def _fire(event: asyncio.Event) -> asyncio.Event:
    """Wake whoever waits on ``event``; the fresh event returned is what later waiters wait on."""
    event.set()
    return asyncio.Event()


def _short(battle_id: bytes) -> str:
    return battle_id.hex()[:12]


@dataclass
class EscrowBattleState:
    """What this node knows and did about one battle's escrow (the rules' state is ``machine``)."""

    battle_id: bytes
    spec: BattleAnnounce
    dj_keys: dict[str, bytes]
    machine: EscrowMachine
    committee: tuple[str, ...] | None = None  # the members' EVM addresses, canonical order
    member_address: dict[bytes, str] = field(default_factory=dict)  # member key -> checksummed address
    committee_problem: str | None = None
    agree_tx: str | None = None
    payout_tx: str | None = None
    refund_tx: str | None = None
    bond_tx: str | None = None
    release_tx: str | None = None
    reports: list[str] = field(default_factory=list)  # equivocation report transactions
    involved: bool = False  # we staked, opened, joined or sit on the committee: read the entry
    staked: bool = False  # we may hold a stake (a DJ, or we staked)
    next_read: float = 0.0
    next_sync: float | None = None  # when to fetch the battle's topic again for missing attestations
    sync_pause: float = ATTESTATION_SYNC_S
    syncing: bool = False

    @property
    def terms(self) -> EscrowTerms:
        assert self.spec.escrow is not None
        return self.spec.escrow

    @property
    def valid(self) -> dict[tuple[str, bytes, tuple[str, ...]], dict[str, AttestationHeld]]:
        """Counted attestations by (winner, result hash, forfeits), then signer."""
        return self.machine.valid

    @property
    def attested(self) -> set[bytes]:
        return {self.machine.attested} if self.machine.attested is not None else set()


class BattleEscrowService:
    """Runs the escrow flow for battles whose announcement names our chain and contract.

    ``collect``: submit payouts when 2f+1 valid attestations are here: None (default) only on the
    winning DJ's node, True on this node whoever won, False never. ``attest``: sign results as a
    committee member (False models a member whose wallet stays offline). ``settle_s``: how long a
    member waits after the first verified result for other members' bundles before it signs the best
    one it holds (once: a second, different attestation is equivocation and burns its seat bond).
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
        self._wake = asyncio.Event()  # something may let a tick act: run one now
        self._binding = asyncio.Event()  # set (and replaced) whenever a wallet binding is learnt
        self._progress = asyncio.Event()  # set (and replaced) after each entry read or transaction

    async def __aenter__(self) -> BattleEscrowService:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def start(self) -> None:
        self._spawn(self._follow(self.node.events()))
        self.battles.listeners.append(self._on_action)
        self.battles.roster_filters.append(self._bonded_roster)
        for stored in self.node.store.query(kind=WalletBinding.KIND, limit=100_000):
            self._on_binding(stored.envelope)
        if self.wallet_of(self.node.public_key) != self.address:
            await self.publish_binding()
        for stored in self.node.store.query(kind=BattleAnnounce.KIND, limit=10_000):
            self._state(stored.envelope.content_id)
        # what we signed before a restart counts as signed: the machine will not sign a second statement
        for stored in self.node.store.query(kind=BattleAttestation.KIND, limit=10_000):
            message = stored.envelope.message
            if stored.envelope.author != self.node.public_key or not isinstance(message, BattleAttestation):
                continue
            if (state := self._state(message.battle)) is not None:
                self._feed(state, self._held(state, stored.envelope, message))
        self._spawn(self._tick_forever())

    async def close(self) -> None:
        with contextlib.suppress(ValueError):
            self.battles.listeners.remove(self._on_action)
        with contextlib.suppress(ValueError):
            self.battles.roster_filters.remove(self._bonded_roster)
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
            self._binding = _fire(self._binding)
            self._wake.set()  # a committee may now map to addresses

    def wallet_of(self, peer_key: bytes) -> str | None:
        """The EVM address ``peer_key`` proved to control (its newest valid binding), if known here."""
        known = self._wallets.get(peer_key)
        return known[1] if known else None

    async def find_wallet(self, peer_id: str, timeout_s: float = 30.0) -> str:
        """The peer's bound address, fetching its author topic if needed; NodeError if none comes."""
        key = public_key_from_peer_id(peer_id)
        if (found := self.wallet_of(key)) is not None:
            return found
        topic = author_topic(key)
        await self.node.join_topic(topic, persist=False)
        deadline = monotonic() + timeout_s
        while (found := self.wallet_of(key)) is None:
            if monotonic() > deadline:
                raise NodeError(f"{peer_id} has published no wallet binding (no EVM address to pay)")
            arrived = self._binding
            with contextlib.suppress(Exception):
                await self.node.sync([topic], first=[peer_id])
            await wait_set(arrived, min(SYNC_AGAIN_S, deadline - monotonic()))
        return found

    # -- DJs and sponsors ----------------------------------------------------------------------

    async def announce(
        self,
        opponent: str,
        my_set: DjSet,
        *,
        rules: Rules,
        stake_wei: int = 0,
        seat_bond_wei: int = 0,
        opponent_address: str | None = None,
        payout_window_s: int = 3600,
        start_in_s: float = 20.0,
        accept_s: float | None = None,
        commit_seconds: int = 30,
        reveal_seconds: int = 30,
        title: str = "",
    ) -> bytes:
        """Challenge ``opponent`` with a prize escrow: open it on chain with our stake, then announce.

        The escrow deadline is ``payout_window_s`` after the reveal deadline (chain time). Every committee
        member must post ``seat_bond_wei`` (0: no bond) before joining. Returns the battle ID.
        """
        if stake_wei < 0 or payout_window_s < 0 or seat_bond_wei < 0:
            raise NodeError("the stake, the seat bond and the payout window cannot be negative")
        try:
            dj_b = to_checksum_address(opponent_address or await self.find_wallet(opponent))
        except ValueError as exc:
            raise NodeError(f"not an EVM address: {opponent_address!r}") from exc
        chain_now = await self._call(self.chain.timestamp)

        def terms(reveal_by_ms: int) -> EscrowTerms:
            now_s = max(chain_now, _now_ms() // 1000)
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
                self.escrow.open, envelope.content_id, dj_b, spec.escrow.deadline, stake_wei, seat_bond_wei
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

    async def accept(
        self, battle_id: bytes, my_set: DjSet, *, stake_wei: int = 0, gate_signature: bytes = b""
    ) -> None:
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
        await self.battles.accept(battle_id, my_set, gate_signature=gate_signature)

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
        if (state := self.states.get(battle_id)) is not None:
            state.involved = state.staked = (
                True  # we follow the entry from now on, to refund after the deadline
            )
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
        djs = {
            "a": str(to_checksum_address(spec.escrow.dj_a)),
            "b": str(to_checksum_address(spec.escrow.dj_b)),
        }
        machine = EscrowMachine(
            battle_id=battle_id,
            dj_addresses=djs,
            reveal_by_ms=spec.reveal_by,
            me=self.node.public_key,
            my_address=self.address,
            attest=self.attest,
            collect=self.collect,
            auto_refund=self.auto_refund,
            settle_ms=int(self.settle_s * 1000),
        )
        state = EscrowBattleState(battle_id, spec, {"a": stored.envelope.author, "b": spec.opponent}, machine)
        state.involved = state.staked = self.address in djs.values()
        self._make_room()
        self.states[battle_id] = state
        return state

    def _make_room(self) -> None:
        """Below ``MAX_ESCROW_BATTLES``: forget the oldest finished battles, then the oldest not ours; a
        battle we staked or sit in that still owes a step is never forgotten."""
        excess = len(self.states) - MAX_ESCROW_BATTLES + 1
        if excess <= 0:
            return
        order = list(self.states.values())  # insertion order: oldest first
        finished = [st for st in order if st.machine.finished]
        others = [st for st in order if not st.machine.finished and not st.involved]
        for state in (finished + others)[:excess]:
            del self.states[state.battle_id]
        if len(self.states) >= MAX_ESCROW_BATTLES:
            log.warning("escrow: %d battles of ours still owe a step; following one more", len(self.states))

    async def _follow(self, events: Any) -> None:
        async for event in events:
            if not isinstance(event, MessageStored):
                continue
            try:
                await self._on_message(event.envelope)
            except Exception:  # one bad message must not stop the service
                log.exception("battle escrow failed on %s", event.envelope.kind)
            self._wake.set()

    async def _on_message(self, envelope: SignedEnvelope) -> None:
        message = envelope.message
        if isinstance(message, WalletBinding):
            self._on_binding(envelope)
        elif isinstance(message, BattleAnnounce):
            self._state(envelope.content_id)
        elif isinstance(message, BattleJoin) and envelope.author == self.node.public_key:
            state = self._state(message.battle)
            if state is not None:
                state.involved = True
                await self.publish_binding(battle=message.battle)
                self._feed(state, Joined())
        elif isinstance(message, BattleResult):
            state = self._state(message.battle)
            if state is not None:
                self._on_result(state, envelope)
        elif isinstance(message, BattleAttestation):
            state = self._state(message.battle)
            if state is not None:
                self._feed(state, self._held(state, envelope, message))

    def _on_result(self, state: EscrowBattleState, envelope: SignedEnvelope) -> None:
        self._drawn(state)
        if state.machine.committee is None:
            return  # read again from the store once the committee is drawn (``_drawn``)
        try:
            result = verify_bundle_envelope(envelope)
        except ProtocolError:
            return  # the battle service logs and refuses it
        if result.committee == state.machine.committee:  # only the committee this node drew
            self._feed(state, ResultHeld(result))

    def _held(
        self, state: EscrowBattleState, envelope: SignedEnvelope, m: BattleAttestation
    ) -> AttestationHeld:
        """The attestation with the address its signature recovers to over what it says."""
        winner = to_checksum_address(m.winner)
        forfeits = tuple(to_checksum_address(a) for a in m.forfeits)
        digest = result_digest(self.escrow.domain, state.battle_id, winner, m.result, forfeits)
        signer = recover_signer(digest, Signature.from_bytes(m.signature))
        return AttestationHeld(
            envelope.content_id, envelope.author, winner, m.result, forfeits, m.signature, signer
        )

    def _drawn(self, state: EscrowBattleState) -> None:
        """Tell the machine the committee once it is drawn and every member's address is known."""
        if state.machine.committee is not None:
            return
        battle = self.battles.battles.get(state.battle_id)
        members = battle.machine.committee() if battle is not None else ()
        if not members:
            return
        try:
            state.committee = self._map_committee(state, members)
        except NodeError:
            return  # bindings still arriving
        state.involved = state.involved or self.node.public_key in members
        self._feed(state, Drawn(members, dict(state.member_address)))
        topic = battle_topic(state.battle_id)
        for stored in self.node.store.by_topics([topic], kinds=(BattleResult.KIND,), limit=256):
            self._on_result(state, stored)

    def _on_action(self, battle_id: bytes, action: object) -> None:
        if not isinstance(action, JudgeNow):
            return
        state = self._state(battle_id)
        if state is None:
            return
        self._drawn(state)
        if self.node.public_key in state.dj_keys.values():
            self._spawn(self._agree_committee(state, action.committee))
        self._wake.set()

    async def _tick_forever(self) -> None:
        while True:
            self._wake.clear()  # what wakes us from here on is seen by the next round
            for state in list(self.states.values()):
                try:
                    await self._tick(state)
                except Exception:
                    log.exception("battle %s: escrow tick failed", _short(state.battle_id))
            await wait_set(self._wake, self._idle_s())

    def _idle_s(self) -> float:
        """Seconds until a tick may act: the next entry read due, or a machine's next deadline."""
        now_s, now = monotonic(), _now_ms()
        delays = [MAX_IDLE_S]
        for state in self.states.values():
            if state.involved and not state.machine.finished:
                delays.append(state.next_read - now_s)
            if state.next_sync is not None:  # fetching missed attestations again
                delays.append(state.next_sync - now_s)
            deadline = state.machine.next_deadline()
            if deadline is not None and deadline > now:  # one already due was acted on by this round
                delays.append((deadline - now + 1) / 1000)
        return max(0.0, min(delays))

    async def _tick(self, state: EscrowBattleState) -> None:
        self._drawn(state)
        machine = state.machine
        if state.involved and not machine.finished and monotonic() >= state.next_read:
            state.next_read = monotonic() + (ENTRY_POLL_S if machine.busy else IDLE_ENTRY_POLL_S)
            entry = await self._call(self._read_entry, state)
            self._progress = _fire(self._progress)
            if entry is not None:
                self._feed(state, entry)
        self._feed(state, Tick())
        self._catch_up_attestations(state)

    def _catch_up_attestations(self, state: EscrowBattleState) -> None:
        """Fetch the battle's topic again, with a growing pause, while attestations may be missing."""
        if not state.machine.awaits_attestations:
            state.next_sync = None
            state.sync_pause = ATTESTATION_SYNC_S
            return
        now = monotonic()
        if state.next_sync is None:
            state.next_sync = now + state.sync_pause  # gossip first: most attestations come that way
        if now < state.next_sync or state.syncing:
            return
        state.sync_pause = min(2 * state.sync_pause, MAX_ATTESTATION_SYNC_S)
        state.next_sync = now + state.sync_pause
        self._spawn(self._sync_battle(state))

    async def _sync_battle(self, state: EscrowBattleState) -> None:
        state.syncing = True
        try:
            found = await self.node.sync([battle_topic(state.battle_id)])
        except Exception as exc:  # a peer gone or slow: the next pause tries again
            log.info("battle %s: fetching missed attestations failed: %r", _short(state.battle_id), exc)
        else:
            if found:
                log.info("battle %s: %d missed message(s) fetched from peers", _short(state.battle_id), found)
        finally:
            state.syncing = False

    def _read_entry(self, state: EscrowBattleState) -> EntryRead | None:
        """The battle's entry and our stake and bond in it (blocking: run in a thread)."""
        entry = self.escrow.battle(state.battle_id)
        if entry is None:
            return None
        agreed = (
            entry.committee_size > 0
            and state.committee is not None
            and entry.committee_hash == self.escrow.committee_hash(state.committee)
        )
        if (
            entry.committee_size > 0
            and not agreed
            and state.committee is not None
            and not state.committee_problem
        ):
            state.committee_problem = "the committee agreed on chain differs from the battle's"
            log.warning(
                "battle %s: %s: no attestation or payout from here",
                _short(state.battle_id),
                state.committee_problem,
            )
        return EntryRead(
            chain_now_s=self.chain.timestamp(),
            deadline_s=entry.deadline,
            settled=entry.settled,
            seat_bond=entry.seat_bond,
            committee_fixed=entry.committee_size > 0,
            committee_agreed=agreed,
            stake=self.escrow.stake_of(state.battle_id, self.address) if state.staked else 0,
            bond=self.escrow.bond_of(state.battle_id, self.address) if state.machine.joined else 0,
        )

    # -- carrying out the machine's actions -------------------------------------------------------

    def _feed(self, state: EscrowBattleState, event: EscrowEvent) -> None:
        for action in state.machine.handle(event, _now_ms()):
            self._act(state, action)

    def _act(self, state: EscrowBattleState, action: EscrowAction) -> None:
        if isinstance(action, Dropped):
            held = action.attestation
            log.info(
                "battle %s: attestation from %s dropped: %s",
                _short(state.battle_id),
                peer_id_from_public_key(held.author),
                action.reason,
            )
        elif isinstance(action, Vanished):
            self.sender.resync()  # the dropped transaction's nonce is free again
            log.warning(
                "battle %s: our %s transaction is no longer on the chain (reorganised away?): asking again",
                _short(state.battle_id),
                action.action,
            )
        elif isinstance(action, Attest):
            self._spawn(self._publish_attestation(state, action))
        else:
            self._spawn(self._transact(state, action))

    async def _publish_attestation(self, state: EscrowBattleState, action: Attest) -> None:
        signed = sign_result(
            self._private_key(), self.escrow.domain, state.battle_id, action.winner, action.result_hash,
            action.forfeits,
        )  # fmt: skip
        await self.node.publish(
            BattleAttestation(
                battle=state.battle_id,
                result=action.result_hash,
                winner=bytes.fromhex(action.winner[2:]),
                signature=signed.signature.to_bytes(),
                forfeits=tuple(bytes.fromhex(a[2:]) for a in action.forfeits),
            )
        )
        log.info(
            "battle %s: attested result %s (winner %s, forfeits %s)",
            _short(state.battle_id),
            _short(action.result_hash),
            action.winner,
            ", ".join(action.forfeits) or "none",
        )

    def _attestation(self, state: EscrowBattleState, held: AttestationHeld) -> Attestation:
        assert held.signer is not None
        return Attestation(
            held.signer, state.battle_id, held.winner, held.result_hash, Signature.from_bytes(held.signature),
            held.forfeits,
        )  # fmt: skip

    async def _transact(self, state: EscrowBattleState, action: EscrowAction) -> None:
        """One escrow transaction the machine asked for; the outcome goes back to it as ``Sent``."""
        battle_id = state.battle_id
        name = {Pay: "pay", Refund: "refund", PostBond: "bond", ReleaseBond: "release"}.get(type(action), "")
        if isinstance(action, Report):
            assert action.first.signer is not None
            name = f"report:{action.first.signer}"
        ok = False
        try:
            if isinstance(action, Pay):
                assert state.committee is not None
                attestations = [self._attestation(state, h) for h in action.attestations]
                receipt = await self._call(
                    self.escrow.payout, battle_id, action.winner, action.result_hash, state.committee,
                    attestations,
                )  # fmt: skip
                state.payout_tx = _tx_hex(receipt["transactionHash"])
                log.info("battle %s: paid %s with %d attestations (tx %s)", _short(battle_id), action.winner,
                         len(attestations), state.payout_tx)  # fmt: skip
            elif isinstance(action, Report):
                first, second = (self._attestation(state, h) for h in (action.first, action.second))
                receipt = await self._call(self.escrow.report_equivocation, first, second)
                state.reports.append(_tx_hex(receipt["transactionHash"]))
                log.warning("battle %s: %s signed two different results; its seat bond burned (tx %s)",
                            _short(battle_id), first.signer, state.reports[-1])  # fmt: skip
            elif isinstance(action, Refund):
                await self.refund(battle_id)
            elif isinstance(action, PostBond):
                receipt = await self._call(self.escrow.post_bond, battle_id, action.amount)
                state.bond_tx = _tx_hex(receipt["transactionHash"])
                log.info("battle %s: posted the seat bond of %d wei (tx %s)", _short(battle_id), action.amount,
                         state.bond_tx)  # fmt: skip
            elif isinstance(action, ReleaseBond):
                receipt = await self._call(self.escrow.release_bond, battle_id, action.committee)
                state.release_tx = _tx_hex(receipt["transactionHash"])
            ok = True
        except (LedgerError, NodeError) as exc:
            if isinstance(action, Pay) and "already paid out" in str(exc):
                with contextlib.suppress(Exception):  # the next entry read says settled either way
                    state.payout_tx = await self._payout_tx(battle_id) or ""
            elif isinstance(action, Report) and "no seat bond held" in str(exc):
                # burned already (the other DJ's report came first) or released: nothing left to report;
                # asking again every RETRY_MS until the node stops following the battle would only log
                ok = True
                log.info("battle %s: %s: its seat bond is gone already", _short(battle_id), name)
            else:
                log.warning("battle %s: %s refused: %s", _short(battle_id), name, exc)
        except Exception as exc:  # the RPC timed out or failed: the outcome is unknown, the entry will say
            log.warning("battle %s: %s failed (%r): asked again later", _short(battle_id), name, exc)
        state.next_read = 0.0  # read the entry again on the next tick
        self._feed(state, Sent(name, ok))
        self._progress = _fire(self._progress)
        self._wake.set()

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
        self._drawn(state)
        return state.committee

    async def _bonded_roster(self, battle_id: bytes, members: tuple[bytes, ...]) -> tuple[bytes, ...]:
        """A DJ's roster filter: when the battle asks a seat bond, only viewers whose bound address
        posted it (an unbonded member would leave the committee unfixable on chain)."""
        state = self._state(battle_id)
        if state is None:
            return members
        bound = {m: self.wallet_of(m) for m in members}

        def read() -> dict[bytes, int] | None:
            entry = self.escrow.battle(battle_id)
            if entry is None or entry.seat_bond == 0:
                return None
            return {m: self.escrow.bond_of(battle_id, a) for m, a in bound.items() if a is not None}

        try:
            bonds = await self._call(read)
        except Exception as exc:  # a chain node down must not cost the battle its roster
            log.warning("battle %s: cannot read seat bonds (%r): roster left as is", _short(battle_id), exc)
            return members
        if bonds is None:
            return members
        kept = tuple(m for m in members if bonds.get(m, 0) > 0)
        if len(kept) < len(members):
            log.info("battle %s: %d joined viewer(s) posted no seat bond: not on our roster",
                     _short(battle_id), len(members) - len(kept))  # fmt: skip
        return kept

    async def _agree_committee(self, state: EscrowBattleState, members: tuple[bytes, ...]) -> None:
        """A DJ proposes the committee's addresses on chain; bindings may still be arriving."""
        deadline = monotonic() + max(1.0, (state.spec.reveal_by - _now_ms()) / 1000)
        while True:
            arrived = self._binding
            try:
                state.committee = self._map_committee(state, members)
                break
            except NodeError as exc:
                if monotonic() > deadline:
                    state.committee_problem = str(exc)
                    log.warning(
                        "battle %s: no payout possible, %s; the stakes are refunded after the deadline",
                        _short(state.battle_id),
                        exc,
                    )
                    return
            await wait_set(arrived, deadline - monotonic())  # only a new binding can change the answer
        self._drawn(state)
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
        state.next_read = 0.0
        self._wake.set()
        log.info(
            "battle %s: proposed committee %s on chain (tx %s)",
            _short(state.battle_id),
            ", ".join(state.committee),
            state.agree_tx,
        )

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
        deadline = monotonic() + timeout_s
        while monotonic() < deadline:
            progress = self._progress
            summary = await self.payout_summary(battle_id)
            if summary is not None:
                return summary
            # after the next entry read or transaction (one chain read each, bounded like them)
            await wait_set(progress, min(ENTRY_POLL_S, deadline - monotonic()))
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
                f"{result.hex()}/{winner}" + (f"/forfeits:{','.join(forfeits)}" if forfeits else ""): len(
                    group
                )
                for (winner, result, forfeits), group in state.valid.items()
            },
            "dropped_attestations": dict(
                sorted((cid.hex(), reason) for cid, reason in state.machine.dropped.items())
            ),
            "attested": sorted(h.hex() for h in state.attested),
            "equivocators": sorted(state.machine.equivocators),
            "payout_tx": state.payout_tx or None,
            "refund_tx": state.refund_tx or None,
            "bond_tx": state.bond_tx,
            "release_tx": state.release_tx,
            "equivocation_reports": list(state.reports),
        }
