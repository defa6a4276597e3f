"""The asyncio glue that runs battles: it feeds ``BattleMachine`` from gossip and a clock,
and carries out its actions with the node's other services.

- A DJ streams their set (through ``LiveService``) when their window opens and declares a
  signed tracklist naming the stream.
- A DJ commits to a random seed secret in its announce or accept, signs its roster of the joins
  it saw at ``join_by`` and opens its secret once both rosters are here (``protocol/committee.py``).
- A viewer joins, keeps both signed sets, and if the battle's committee includes it, judges
  the audio of the signed sets (the same bytes on every honest node), commits to its
  verdict, reveals it as soon as it holds every member's commit (at the latest after the
  commit deadline), and publishes the result bundle once every member revealed. A set that
  never came gets the member's ``battle_absent`` instead.
- Secrets (seed secrets, sealed verdicts) are on disk (``BattleSecrets``) before their commitment
  is published; after a restart the stored messages of each battle are replayed into its machine
  and a member with a sealed verdict on disk reveals it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

from djmesh.judge.pin import JUDGE_PIN
from djmesh.node.battle.judging import Judge, judge_in_thread, warm_up_judge
from djmesh.node.battle.secrets import BattleSecrets
from djmesh.node.clock import monotonic, sleep, wait_set
from djmesh.node.clock import now_ms as _now_ms
from djmesh.node.errors import NodeError
from djmesh.node.events import MessageStored
from djmesh.node.live.errors import LiveError
from djmesh.node.live.service import LiveService
from djmesh.node.live.set_audio import SetAudio
from djmesh.node.node import Node
from djmesh.node.tasks import BackgroundTasks
from djmesh.protocol import peer_id_from_public_key, public_key_from_peer_id, sign
from djmesh.protocol.battle import (
    ARRIVAL_GRACE_MS,
    BATTLES_TOPIC,
    MAX_JOINS,
    MAX_ROSTER,
    ROSTER_GRACE_MS,
    SIDES,
    AttestAbsent,
    BattleAbsent,
    BattleAccept,
    BattleAnnounce,
    BattleBind,
    BattleJoin,
    BattleMachine,
    BattleMessage,
    BattleRoster,
    BattleSeed,
    BindTaker,
    Cancelled,
    EscrowTerms,
    Finished,
    Ignored,
    JudgeNow,
    Phase,
    Received,
    RevealNow,
    RevealSeed,
    Rules,
    SetClosed,
    SetOpened,
    SignRoster,
    TallyNow,
    Tick,
    Tracklist,
    VerdictCommit,
    VerdictReveal,
    battle_topic,
)
from djmesh.protocol.committee import roster_kept, seed_commitment
from djmesh.protocol.consensus import (
    QuorumError,
    Result,
    SealedVerdict,
    best_result,
    build_result,
    seal_verdict,
)
from djmesh.protocol.envelope import SignedEnvelope, decode_envelope
from djmesh.protocol.ratelimit import KeyedTokenBuckets, RateLimit

log = logging.getLogger(__name__)

#: the tick loop sleeps until the next instant a battle's schedule changes something (``_wake_times``),
#: or a new battle or a finished judging wakes it; at most this long, as a safety net
MAX_IDLE_S = 1.0
SAY_AGAIN_WAIT_S = (
    10.0  # how long a restarted member waits for the battle's mesh before saying its commit again
)
# Battles are announced by anyone: the table of those this node follows but is not a DJ of is bounded.
MAX_OPEN_BATTLES = 256  # not done yet; a newer announcement beyond this is not followed (logged)
MAX_FINISHED_BATTLES = 1024  # done or cancelled, kept for `battle show`; the oldest are forgotten
# Joining publishes on the battle's topic: a flood of announcements must not make this node flood too.
# A join is given back when its battle ends with a verified result: the budget bounds joins for battles
# that come to nothing (a flood), not a viewer following an ordinary busy network battle after battle.
AUTO_JOIN_BUDGET = RateLimit(burst=8, per_second=8 / 3600)
MAX_SET_RETRY_S = 2.0  # longest pause between two attempts to get a set that is not whole here yet
SET_ATTEMPT_S = 30.0  # one attempt to get a set whole and decoded: far more than a loaded machine needs


def _judged_samples(machine: BattleMachine) -> int:
    """How much of a set the judge reads: the rules' set length, so streaming on past it gains nothing
    and costs the judges nothing."""
    return int(machine.spec.rules.set_seconds * SAMPLE_RATE)


def _check_accept_in_time(spec: BattleAnnounce) -> None:
    """Refuse to sign an accept after ``accept_by``: every node would ignore it and cancel the battle
    10 s later, leaving DJ B believing it had accepted (an announcement that reached us late does this)."""
    late_ms = _now_ms() - spec.accept_by
    if late_ms > 0:
        raise NodeError(
            f"the accept window closed {late_ms / 1000:.1f} s ago (accept_by): every node refuses an accept "
            "signed after it; the challenger can challenge again with a longer accept window"
        )


def _where(task: asyncio.Task[Any]) -> str:
    """The awaits a task is suspended in, innermost last (file:line function), to say where something hung."""
    chain: list[str] = []
    awaited: Any = task.get_coro()
    while awaited is not None:
        frame = getattr(awaited, "cr_frame", None) or getattr(awaited, "gi_frame", None)
        if frame is not None:
            chain.append(
                f"{os.path.basename(frame.f_code.co_filename)}:{frame.f_lineno} {frame.f_code.co_name}"
            )
        awaited = getattr(awaited, "cr_await", None) or getattr(awaited, "gi_yieldfrom", None)
    return " > ".join(chain[-4:]) or "?"


#: a DJ signs its roster this long before roster_by (at most a quarter of the roster window), so joins
#: signed by join_by but slow to arrive (gossip under load) still make it onto the roster
ROSTER_MARGIN_MS = 1000
SAMPLE_RATE = 48_000


@dataclass
class DjSet:
    """What a DJ brings: a playable source and the tracklist they declare."""

    source: str
    titles: tuple[str, ...]
    cues_ms: tuple[int, ...]


@dataclass
class BattleState:
    machine: BattleMachine
    my_set: DjSet | None = None
    my_stream: str | None = None
    sealed: SealedVerdict | None = None
    revealed: bool = False
    result: Result | None = None
    #: this node's own judge's timestamped findings per side, for the DJs (never part of the verdict)
    findings: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    judging: asyncio.Task[None] | None = None
    auto_joined: bool = False  # joined on its announcement, paid from the auto-join budget
    done: asyncio.Event = field(default_factory=asyncio.Event)
    #: wall ms at which this node passed each step after the sets (first time only): where results wait
    marks: dict[str, int] = field(default_factory=dict)

    def mark(self, step: str, at_ms: int | None = None) -> None:
        self.marks.setdefault(step, _now_ms() if at_ms is None else at_ms)


class SetStreams(Protocol):
    """How a DJ's node goes live with its set: `LiveService` itself, or a seller that prices the stream."""

    async def start_stream(self, source: str, *, title: str | None = None) -> str: ...

    async def stop_stream(self, stream_id: str | None = None) -> Any: ...


class BattleService:
    def __init__(
        self,
        node: Node,
        live: LiveService,
        *,
        auto_join: bool = True,
        streams: SetStreams | None = None,
        crowd_votes: Callable[[BattleMachine], Awaitable[tuple[int, int]]] | None = None,
        roster_policy: Callable[[tuple[bytes, ...]], tuple[bytes, ...]] | None = None,
        judge: Judge | None = None,
    ) -> None:
        """``judge``: how this member scores the two sets (default: ``judge_sets`` in a worker thread;
        nodes sharing a process may share a ``judging.SharedJudge``)."""
        self.node = node
        self.judge: Judge = judge or judge_in_thread
        self.live = live
        self.streams: SetStreams = streams if streams is not None else live
        #: the crowd's final (votes for a, votes for b), for rules with a crowd weight (node.battle.crowd)
        self.crowd_votes = crowd_votes
        self.auto_join = auto_join
        #: which of the viewers that joined (earliest first) this DJ puts on its roster: its consent to
        #: their seats. Default: the peers it follows first, then the earliest joins, at most MAX_ROSTER.
        self.roster_policy = roster_policy or self._default_roster
        self.battles: dict[bytes, BattleState] = {}
        self.secrets = BattleSecrets(node.home.root / "battle-secrets")
        self._pending_sets: dict[bytes, DjSet] = {}
        self._auto_joins = KeyedTokenBuckets(AUTO_JOIN_BUDGET, tracked=1)
        self._tasks = BackgroundTasks("battles")
        self._wake = asyncio.Event()  # something changed that a tick should see before the next deadline
        self._battle_added = asyncio.Event()  # set, then replaced, whenever a battle is added
        self.listeners: list[Callable[[bytes, object], None]] = []
        #: further narrowing of a DJ's roster by other services (battle ID, members) -> members kept,
        #: e.g. the escrow keeps only viewers who posted the seat bond
        self.roster_filters: list[Callable[[bytes, tuple[bytes, ...]], Awaitable[tuple[bytes, ...]]]] = []

    async def __aenter__(self) -> BattleService:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def start(self) -> None:
        events = self.node.events()
        self._spawn(self._follow(events))
        await self.node.join_topic(BATTLES_TOPIC)
        for stored in self.node.store.by_topics([BATTLES_TOPIC], kinds=("battle_announce",)):
            await self._on_message(stored)
        self._spawn(self._tick_forever())

    def _replay(self, battle_id: bytes) -> None:
        """Feed a known battle's stored messages to its fresh machine, each at its signed time.

        Their actions are dropped (they were carried out before the restart); the next tick acts on
        the phase the battle is in now, and a sealed verdict on disk is revealed (``_act``).
        """
        state = self.battles.get(battle_id)
        if state is None:
            return
        stored = self.node.store.by_topics([battle_topic(battle_id)], limit=2000)
        for envelope in sorted(stored, key=lambda e: (e.created_at_ms, e.content_id)):
            if envelope.content_id != battle_id:
                state.machine.handle(Received(envelope), envelope.created_at_ms)
        state.sealed = self.secrets.load_sealed(battle_id)
        me = self.node.public_key
        machine = state.machine
        if machine.spec.is_open and machine.bind is None and machine.takers and machine.announce.author == me:
            self._spawn(self._bind(state, machine.takers[0]))  # the replay dropped the BindTaker
        state.revealed = any(r.author == me for r in state.machine.reveals)
        # A crash right after storing our commit (or reveal) may have kept it from ever leaving this node:
        # say it again, or the others count us as absent and a second view of the battle forms.
        mine = [e for e in stored if e.author == me and e.kind in (VerdictCommit.KIND, VerdictReveal.KIND)]
        if mine and state.machine.phase not in (Phase.DONE, Phase.CANCELLED):
            self._spawn(self._say_again(battle_id, mine))

    async def _say_again(self, battle_id: bytes, envelopes: list[SignedEnvelope]) -> None:
        """After a restart the battle's gossip mesh takes a moment to form: wait for a peer on the topic
        (at most SAY_AGAIN_WAIT_S), then say each message."""
        topic = battle_topic(battle_id)
        deadline = monotonic() + SAY_AGAIN_WAIT_S
        while not self.node.host.mesh_peers(topic) and monotonic() < deadline:
            await sleep(0.2)
        for envelope in envelopes:
            await self.node.publish_signed(envelope)

    async def close(self) -> None:
        await self._tasks.cancel_all()

    def _spawn(self, coroutine: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        return self._tasks.spawn(coroutine)

    # -- public API ----------------------------------------------------------------------------

    async def announce(
        self,
        opponent: str | None,
        my_set: DjSet,
        *,
        rules: Rules,
        start_in_s: float = 20.0,
        accept_s: float | None = None,
        commit_seconds: int = 30,
        reveal_seconds: int = 30,
        title: str = "",
    ) -> bytes:
        """Challenge ``opponent`` (a peer ID; None: an open challenge any DJ may take); the battle ID."""
        envelope = self.sign_announce(
            opponent,
            rules=rules,
            start_in_s=start_in_s,
            accept_s=accept_s,
            commit_seconds=commit_seconds,
            reveal_seconds=reveal_seconds,
            title=title,
        )
        await self.publish_announce(envelope, my_set)
        return envelope.content_id

    def sign_announce(
        self,
        opponent: str | None,
        *,
        rules: Rules,
        start_in_s: float = 20.0,
        accept_s: float | None = None,
        commit_seconds: int = 30,
        reveal_seconds: int = 30,
        title: str = "",
        escrow: Callable[[int], EscrowTerms] | None = None,
    ) -> SignedEnvelope:
        """The signed challenge, not yet published (its content ID is the battle ID).

        ``escrow`` gives the prize escrow's terms from the reveal deadline (ms): the escrow deadline
        must come after it.
        """
        now = _now_ms()
        start_at = now + int(start_in_s * 1000)
        accept_by = now + int((accept_s if accept_s is not None else start_in_s / 2) * 1000)
        # joins close before the sets, leaving the DJs time to collect them, sign rosters and open seeds
        join_by = max(accept_by, start_at - max(500, min(20_000, 3 * (start_at - accept_by) // 4)))
        message = BattleAnnounce(
            opponent=public_key_from_peer_id(opponent) if opponent is not None else b"",
            rules=rules,
            accept_by=accept_by,
            join_by=join_by,
            start_at=start_at,
            seed_commit=self._new_seed_commitment(),
            commit_seconds=commit_seconds,
            reveal_seconds=reveal_seconds,
            title=title,
        )
        if escrow is not None:
            message = replace(message, escrow=escrow(message.reveal_by))
        return sign(message, self.node.identity.signing_key, created_at_ms=now)

    async def publish_announce(self, envelope: SignedEnvelope, my_set: DjSet) -> None:
        """Publish a challenge from ``sign_announce``; ``my_set`` streams when the set window opens."""
        self._pending_sets[envelope.content_id] = my_set
        await self.node.join_topic(battle_topic(envelope.content_id))
        await self.node.publish_signed(envelope)

    async def accept(self, battle_id: bytes, my_set: DjSet, *, gate_signature: bytes = b"") -> None:
        """DJ B accepts; ``gate_signature`` is its consent to the battle's ListenGate terms (node.battle.gate_entry)."""
        state = self.battles.get(battle_id)
        if state is None:
            raise NodeError(f"unknown battle {battle_id.hex()}")
        machine = state.machine
        if machine.spec.is_open:
            if machine.announce.author == self.node.public_key:
                raise NodeError("you cannot take your own open challenge")
            if machine.bind is not None:
                raise NodeError("this open challenge is taken already")
        elif machine.spec.opponent != self.node.public_key:
            raise NodeError("only the challenged DJ can accept")
        _check_accept_in_time(machine.spec)
        # an open challenge's taker streams only once DJ A's bind names it (``_my_side``)
        state.my_set = my_set
        accept = BattleAccept(
            battle=battle_id, seed_commit=self._new_seed_commitment(), gate_signature=gate_signature
        )
        await self.node.join_topic(battle_topic(battle_id))
        _check_accept_in_time(machine.spec)  # signed now, by publish
        envelope = await self.node.publish(accept)
        self._spawn(self._repeat_accept(state, envelope))

    async def _bind(self, state: BattleState, take: SignedEnvelope) -> None:
        """DJ A: give our open challenge's seat to ``take`` (its first valid taker) with a battle_bind."""
        machine = state.machine
        if machine.announce.author != self.node.public_key or machine.bind is not None:
            return
        log.info("battle %s: open challenge taken by %s", machine.battle_id.hex()[:12], take.author_peer_id)
        await self.node.publish(BattleBind(battle=machine.battle_id, accept=take.wire))

    def _default_roster(self, joined: tuple[bytes, ...]) -> tuple[bytes, ...]:
        followed = self.node.view.following()
        ranked = sorted(range(len(joined)), key=lambda i: (joined[i] not in followed, i))
        return tuple(sorted(joined[i] for i in ranked[:MAX_ROSTER]))

    def _new_seed_commitment(self) -> bytes:
        """A fresh seed secret, on disk before its commitment is published."""
        secret = os.urandom(32)
        commitment = seed_commitment(secret)
        self.secrets.save_seed(commitment, secret)
        return commitment

    def foreign_judge(self, battle_id: bytes) -> str | None:
        """Why this node cannot judge the battle, or None: its rules name another judge than this release's.

        A member that judged anyway would sign scores its judge made under a pin it does not run, and
        honest members reading the audio alike would outvote it or be outvoted for no fault of theirs.
        """
        state = self.battles.get(battle_id)
        if state is None or state.machine.spec.rules.model == JUDGE_PIN:
            return None
        return (
            f"battle {battle_id.hex()[:12]} names judge {state.machine.spec.rules.model.hex()[:12]}; "
            f"this node runs judge {JUDGE_PIN.hex()[:12]} (another djmesh release), so it cannot judge it"
        )

    async def join(self, battle_id: bytes) -> None:
        if (why := self.foreign_judge(battle_id)) is not None:
            raise NodeError(why)
        await self.node.join_topic(battle_topic(battle_id))
        envelope = await self.node.publish(BattleJoin(battle=battle_id))
        state = self.battles.get(battle_id)
        if state is not None:
            self._spawn(self._repeat_join(envelope, state.machine.spec.join_by))

    async def _repeat_accept(self, state: BattleState, envelope: SignedEnvelope) -> None:
        """Say our accept again (the same signed bytes) while it can still count: 1.5 s after it, at
        ``accept_by`` and halfway through the arrival grace. Without the accept every node cancels the
        battle, and on a loaded network (32 nodes in one process) the one copy reached none of them."""
        spec = state.machine.spec
        for at in (_now_ms() + 1500, spec.accept_by, spec.accept_by + ARRIVAL_GRACE_MS // 2):
            wait_s = (at - _now_ms()) / 1000
            if wait_s <= 0:
                continue
            await sleep(wait_s)
            if state.machine.phase is Phase.CANCELLED:
                return
            await self.node.publish_signed(envelope)

    async def _repeat_join(self, envelope: SignedEnvelope, join_by: int) -> None:
        """Say our join again before ``join_by``: gossip reaches only the peers already subscribed, and a
        DJ missing it from its roster leaves us without a seat (and a short roster, without a committee)."""
        for at in (_now_ms() + 1500, join_by - 500):
            wait_s = (at - _now_ms()) / 1000
            if wait_s <= 0 or at > join_by:
                continue
            await sleep(wait_s)
            await self.node.publish_signed(envelope)

    async def wait_result(self, battle_id: bytes, timeout_s: float) -> Result | None:
        state = self.battles.get(battle_id)
        deadline = monotonic() + timeout_s
        while state is None:
            if monotonic() > deadline:
                return None
            await wait_set(self._battle_added, deadline - monotonic())
            state = self.battles.get(battle_id)
        await wait_set(state.done, deadline - monotonic())
        return state.result

    # -- inputs --------------------------------------------------------------------------------

    async def _follow(self, events: Any) -> None:
        async for event in events:
            if isinstance(event, MessageStored):
                try:
                    await self._on_message(event.envelope)
                except Exception:  # one bad battle must not stop the others
                    log.exception("battle service failed on %s", event.envelope.kind)

    async def _on_message(self, envelope: SignedEnvelope) -> None:
        message = envelope.message
        if isinstance(message, BattleAnnounce):
            if envelope.content_id in self.battles:
                return
            me = self.node.public_key
            mine = me in (envelope.author, message.opponent)
            if not mine and not self._room_for_a_battle():
                log.info(
                    "battle %s from %s not followed: %d open battles already",
                    envelope.content_id.hex()[:12],
                    envelope.author_peer_id,
                    MAX_OPEN_BATTLES,
                )
                return
            state = BattleState(BattleMachine(envelope, verify_bundle=self.node.results.check))
            state.my_set = self._pending_sets.pop(envelope.content_id, None)
            self.battles[envelope.content_id] = state
            self._wake.set()
            self._battle_added.set()
            self._battle_added = asyncio.Event()
            self._replay(envelope.content_id)
            if not mine and self.auto_join and _now_ms() < message.join_by:
                if (why := self.foreign_judge(envelope.content_id)) is not None:
                    log.info("%s: not joined", why)
                elif self._auto_joins.allow("auto_join", _now_ms()):
                    state.auto_joined = True
                    await self.join(envelope.content_id)
                else:
                    log.info(
                        "battle %s: not joined automatically (over the auto-join budget of %d, then %d an hour)",
                        envelope.content_id.hex()[:12],
                        int(AUTO_JOIN_BUDGET.burst),
                        round(AUTO_JOIN_BUDGET.per_second * 3600),
                    )
            elif me == message.opponent:
                await self.node.join_topic(battle_topic(envelope.content_id))
            await self._handle(state, None)
        elif isinstance(message, BattleMessage):
            known = self.battles.get(message.battle)
            if known is not None:
                await self._handle(known, envelope)
                # only a tracklist the machine took (a DJ's of this battle) makes us keep a stream: anyone
                # else's would make every viewer subscribe to, relay and record what it names
                if (
                    isinstance(message, Tracklist)
                    and message.stream
                    and envelope.author != self.node.public_key
                    and any(t.content_id == envelope.content_id for t in known.machine.tracklists.values())
                ):
                    self._spawn(self._keep_set(known.machine, message.stream.hex()))

    def _room_for_a_battle(self) -> bool:
        """Make room for one more battle someone else announced: forget the oldest finished battles beyond
        MAX_FINISHED_BATTLES and open ones past their reveal deadline; False if MAX_OPEN_BATTLES remain."""
        me = self.node.public_key
        now = _now_ms()
        finished, open_ = [], []
        for battle_id, state in self.battles.items():
            if state.machine.phase in (Phase.DONE, Phase.CANCELLED):
                finished.append(battle_id)
            elif me not in state.machine.djs.values():
                if now > state.machine.spec.reveal_by and state.judging is None:
                    finished.append(battle_id)  # over without a result here: nothing left to wait for
                else:
                    open_.append(battle_id)
        finished.sort(key=lambda b: self.battles[b].machine.spec.reveal_by)
        for battle_id in finished[: max(0, len(finished) - MAX_FINISHED_BATTLES + 1)]:
            del self.battles[battle_id]
            # its topic and the task consuming it go too (joined topics would otherwise grow without bound)
            self._spawn(self.node.leave_topic(battle_topic(battle_id), persist=False))
        return len(open_) < MAX_OPEN_BATTLES

    async def _tick_forever(self) -> None:
        while True:
            for state in list(self.battles.values()):
                if not state.done.is_set():
                    await self._handle(state, None)
                    if state.machine.phase is Phase.REVEAL and state.sealed and not state.revealed:
                        await self._reveal(state)  # a restart dropped the RevealNow
            await self._sleep_until_next()

    async def _sleep_until_next(self) -> None:
        """Until the next instant a battle's schedule changes something, a wake-up, or ``MAX_IDLE_S``."""
        now = _now_ms()
        upcoming = [
            t
            for state in self.battles.values()
            if not state.done.is_set()
            for t in _wake_times(state.machine.spec)
            if t > now
        ]
        delay_s = min(MAX_IDLE_S, (min(upcoming) - now + 1) / 1000 if upcoming else MAX_IDLE_S)
        await wait_set(self._wake, delay_s)
        self._wake.clear()

    async def _handle(self, state: BattleState, envelope: SignedEnvelope | None) -> None:
        event = Received(envelope) if envelope is not None else Tick()
        for action in state.machine.handle(event, _now_ms()):
            try:
                await self._act(state, action)
            except Exception:
                # the action's name, not its repr: a tally carries every signed message of the battle
                battle = state.machine.battle_id.hex()[:12]
                log.exception("battle %s: acting on %s failed", battle, type(action).__name__)

    # -- actions -------------------------------------------------------------------------------

    def _my_side(self, state: BattleState) -> str | None:
        return next((s for s, k in state.machine.djs.items() if k == self.node.public_key), None)

    async def _act(self, state: BattleState, action: object) -> None:
        machine = state.machine
        if isinstance(action, Ignored):  # once per message: the inbox drops what it has seen
            log.info(
                "battle %s: %s from %s refused: %s",
                machine.battle_id.hex()[:12],
                action.envelope.kind,
                action.envelope.author_peer_id,
                action.reason,
            )
        elif isinstance(action, Cancelled):
            log.info("battle %s: cancelled: %s", machine.battle_id.hex()[:12], action.reason)
        if isinstance(action, SetOpened) and action.side == self._my_side(state) and state.my_set:
            state.my_stream = await self.streams.start_stream(
                state.my_set.source, title=f"{machine.spec.title or 'battle'} ({action.side.upper()})"
            )
            await self.node.publish(
                Tracklist(
                    battle=machine.battle_id,
                    titles=state.my_set.titles,
                    cues_ms=state.my_set.cues_ms,
                    stream=bytes.fromhex(state.my_stream),
                )
            )
        elif isinstance(action, SetClosed) and action.side == self._my_side(state) and state.my_stream:
            try:
                await self.streams.stop_stream(state.my_stream)
            except Exception:  # the set is over either way; a failed settlement is the seller's to report
                log.exception("battle %s: stopping our stream failed", machine.battle_id.hex()[:12])
        elif isinstance(action, SignRoster) and self._my_side(state) is not None:
            self._spawn(self._sign_roster(state))
        elif isinstance(action, RevealSeed) and (side := self._my_side(state)) is not None:
            await self._reveal_seed(state, side, action.rosters)
        elif isinstance(action, AttestAbsent) and self.node.public_key in action.committee:
            at = max(_now_ms(), machine.spec.set_window(action.side)[1])
            absent = BattleAbsent(battle=machine.battle_id, side=action.side)
            await self.node.publish_signed(sign(absent, self.node.identity.signing_key, created_at_ms=at))
        elif isinstance(action, JudgeNow) and self.node.public_key in action.committee:
            if (why := self.foreign_judge(machine.battle_id)) is not None:
                # on the committee all the same (joined on an earlier release): a missing reveal is the
                # honest outcome, a verdict signed under a pin this node does not run is not
                log.warning("%s: no verdict from this node", why)
            else:
                state.mark("judge_start")
                state.judging = self._spawn(self._judge_and_commit(state))
                state.judging.add_done_callback(lambda _: self._wake.set())
        elif isinstance(action, RevealNow):
            state.mark("reveals_open")
            await self._reveal(state)
        elif isinstance(action, TallyNow) and (
            self.node.public_key in machine.committee() or self._my_side(state) is not None
        ):
            state.mark("tally")
            try:
                bundle = build_result(action.messages)
            except QuorumError as exc:  # too few members revealed a valid verdict: no result, not a failure
                log.info("battle %s: no result at the reveal deadline: %s", machine.battle_id.hex()[:12], exc)
                state.mark("no_quorum")
            else:
                await self.node.publish(bundle)
                state.mark("bundle_published")
        elif isinstance(action, BindTaker):
            await self._bind(state, action.accept)
        elif isinstance(action, Finished):
            self._finish(state)
        for listener in self.listeners:
            listener(machine.battle_id, action)

    async def _sign_roster(self, state: BattleState) -> None:
        """Sign our roster late in the roster window: joins signed in time may still be in flight, and a
        DJ that subscribed to the battle late fetches the joins it missed (a viewer missing from one
        roster has no seat; fewer than 3f + 1 on both, no committee)."""
        machine = state.machine
        spec = machine.spec
        topic = battle_topic(machine.battle_id)
        settle_at = spec.roster_by - min(ROSTER_MARGIN_MS, (spec.roster_by - spec.join_by) // 4)
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.node.sync([topic]), max(0.1, (settle_at - _now_ms()) / 1000))
        if (delay := (settle_at - _now_ms()) / 1000) > 0:
            await sleep(delay)
        for join in self.node.store.by_topics([topic], kinds=(BattleJoin.KIND,), limit=MAX_JOINS):
            if join.author not in machine.joins:
                await self._handle(state, join)
        joined = sorted(machine.joins.values(), key=lambda e: (e.created_at_ms, e.author))
        members = tuple(sorted(set(self.roster_policy(tuple(e.author for e in joined)))))[:MAX_ROSTER]
        for narrow in self.roster_filters:
            members = tuple(m for m in await narrow(machine.battle_id, members) if m in members)
        at = min(max(_now_ms(), spec.join_by), spec.roster_by)
        roster = BattleRoster(battle=machine.battle_id, members=members)
        await self.node.publish_signed(sign(roster, self.node.identity.signing_key, created_at_ms=at))

    async def _reveal(self, state: BattleState) -> None:
        """Open our commitment once (after a restart too: the sealed verdict is on disk)."""
        machine = state.machine
        if state.judging is not None:
            await state.judging
        if state.sealed is None or state.revealed:
            return
        state.revealed = True
        # never signed before the machine saw every verdict bound, even if the clock stepped back
        at = max(_now_ms(), machine.reveals_open_at())
        await self.node.publish_signed(state.sealed.reveal(self.node.identity.signing_key, created_at_ms=at))
        state.mark("revealed")

    async def _reveal_seed(self, state: BattleState, side: str, rosters: tuple[bytes, bytes]) -> None:
        machine = state.machine
        by_id = {r.content_id: r.message for r in machine.rosters}
        mine, theirs = (
            (by_id[rosters[0]], by_id[rosters[1]]) if side == "a" else (by_id[rosters[1]], by_id[rosters[0]])
        )
        assert isinstance(mine, BattleRoster) and isinstance(theirs, BattleRoster)
        if not roster_kept(mine.members, theirs.members):
            log.warning(
                "battle %s: the other DJ's roster drops more than a third of ours; withholding our seed",
                machine.battle_id.hex()[:12],
            )
            return
        accept = machine.accept.message if machine.accept is not None else None
        commitment = machine.spec.seed_commit if side == "a" else getattr(accept, "seed_commit", None)
        secret = self.secrets.load_seed(commitment) if commitment is not None else None
        if secret is None:
            log.warning("battle %s: our seed secret is lost; no committee", machine.battle_id.hex()[:12])
            return
        at = min(max(_now_ms(), machine.spec.join_by), machine.spec.roster_by)
        seed = BattleSeed(battle=machine.battle_id, secret=secret, rosters=rosters)
        await self.node.publish_signed(sign(seed, self.node.identity.signing_key, created_at_ms=at))

    def best_result(self, battle_id: bytes) -> Result | None:
        """The battle's result as ratings count it: the best verified bundle held (``consensus.preference``)."""
        verified = []
        for envelope in self.node.store.by_topics(
            [battle_topic(battle_id)], kinds=("battle_result",), limit=256
        ):
            result = self.node.results.verify(envelope)  # checked once per node (the reason logged then)
            if result is not None:
                verified.append(result)
        return best_result(r for r in verified if r.battle_id == battle_id)

    def _finish(self, state: BattleState) -> None:
        state.mark("result")
        state.result = self.best_result(state.machine.battle_id)
        if state.auto_joined and state.result is not None:
            # a battle that came to a verified result was worth joining: its join does not count against
            # the budget (before, a viewer ran out after 8 back-to-back battles and committees emptied)
            state.auto_joined = False
            self._auto_joins.give_back("auto_join", _now_ms())
        state.done.set()

    def timeline(self, battle_id: bytes) -> dict[str, float]:
        """Seconds after the sets' end at which this node passed each step it took (``BattleState.marks``),
        and when the last commit and the last reveal it holds were signed: where a result's seconds go."""
        state = self.battles.get(battle_id)
        if state is None:
            return {}
        machine = state.machine
        ends = machine.spec.sets_end
        signed = {
            "last_commit_signed": [e.created_at_ms for e in machine.commits],
            "last_reveal_signed": [e.created_at_ms for e in machine.reveals],
        }
        out = {step: (at - ends) / 1000 for step, at in sorted(state.marks.items(), key=lambda kv: kv[1])}
        out.update({step: (max(times) - ends) / 1000 for step, times in signed.items() if times})
        return out

    async def _keep_set(self, machine: BattleMachine, stream_id: str) -> None:
        """Receive a DJ's stream as it plays, so the signed set is here, decoded, when judging starts.

        Silently: which stream to hear is the user's choice, not the judge's. A node that misses the
        stream (or part of it) fetches what it lacks from peers.
        """
        state = self.battles.get(machine.battle_id)
        member = self.node.public_key in machine.committee()
        if state is not None and member:
            self._spawn(self._warm_judge(state))
        try:
            # a member runs the judge's feature pass as the set arrives: after it, only the last second
            await self.live.keep_set(stream_id, max_samples=_judged_samples(machine), features=member)
        except Exception as exc:
            log.info("set %s: not received live (%s); it will be fetched", stream_id[:12], exc)

    async def _warm_judge(self, state: BattleState) -> None:
        try:
            await warm_up_judge()
        except Exception:  # the verdict that counts will load the judge itself, and say what fails
            log.exception("warming the judge up failed")
        else:
            state.mark("judge_warm")

    async def set_audio(
        self, stream_id: str, *, max_samples: int | None = None, marks: dict[str, int] | None = None
    ) -> SetAudio:
        """The decoded mono audio of a DJ's whole signed set (never one with a hole: every member must
        judge the same bytes) up to ``max_samples``, with what our live copy lacks fetched from peers.
        ``marks``: see ``LiveService.set_audio``."""
        try:
            audio = await self.live.set_audio(stream_id, max_samples=max_samples, marks=marks)
        except LiveError as exc:
            raise NodeError(str(exc)) from exc
        if audio.mono.size == 0:
            raise NodeError(f"the set of stream {stream_id[:12]} is empty")
        return audio

    async def _set_audio_in_time(
        self, machine: BattleMachine, stream_id: str, marks: dict[str, int] | None = None
    ) -> SetAudio:
        """``set_audio``, asked again while it fails (links still forming, the set still arriving) and a
        commit could still be on time: while one member has no verdict, every member waits for the
        commit deadline before revealing. An attempt that hangs (a peer that never answers) is given
        up after ``SET_ATTEMPT_S`` with where it hung logged, so one stuck await never costs the verdict."""
        delay_s = 0.5
        while True:
            attempt = asyncio.ensure_future(
                self.set_audio(stream_id, max_samples=_judged_samples(machine), marks=marks)
            )
            done, _ = await asyncio.wait({attempt}, timeout=SET_ATTEMPT_S)
            if done:
                try:
                    return attempt.result()
                except NodeError as exc:
                    problem = str(exc)
            else:
                problem = f"no answer in {SET_ATTEMPT_S:.0f} s, stuck at {_where(attempt)}"
                attempt.cancel()
                with contextlib.suppress(BaseException):
                    await attempt
            if _now_ms() + delay_s * 1000 >= machine.spec.commit_by:
                raise NodeError(f"the set of stream {stream_id[:12]} was not judged in time: {problem}")
            log.info(
                "battle %s: set %s not judged yet (%s); asking again in %.1f s",
                machine.battle_id.hex()[:12],
                stream_id[:12],
                problem,
                delay_s,
            )
            await sleep(delay_s)
            delay_s = min(delay_s * 2, MAX_SET_RETRY_S)

    async def _judge_and_commit(self, state: BattleState) -> None:
        from djmesh.judge.scoring import findings_json

        machine = state.machine
        streams, cues = [], []
        for side in SIDES:
            tracklist = machine.tracklists[side].message
            assert isinstance(tracklist, Tracklist) and tracklist.stream is not None
            streams.append(tracklist.stream.hex())
            cues.append([c / 1000 for c in tracklist.cues_ms])
        rules = machine.spec.rules
        crowd = None
        if self.crowd_votes is not None and rules.crowd_weight_permille:
            crowd = asyncio.ensure_future(self.crowd_votes(machine))  # read while the audio arrives
        marks: dict[str, dict[str, int]] = {side: {} for side in SIDES}
        audio = await asyncio.gather(
            *(
                self._set_audio_in_time(machine, s, marks[side])
                for side, s in zip(SIDES, streams, strict=True)
            )
        )
        for side, steps in marks.items():
            for step, at in steps.items():
                state.mark(f"{step}_{side}", at)
        votes = await crowd if crowd is not None else (0, 0)
        verdict = await self.judge(
            audio[0].mono,
            audio[1].mono,
            SAMPLE_RATE,
            rules,
            cues[0],
            cues[1],
            votes,
            features=(audio[0].features, audio[1].features),
        )
        state.mark("judged")
        scores = verdict.centi_scores()
        state.findings = {"a": findings_json(verdict.a), "b": findings_json(verdict.b)}
        scores = self.scores_to_seal(scores)
        state.sealed = seal_verdict(
            self.node.identity.signing_key,
            machine.battle_id,
            rules.model,
            scores,
            created_at_ms=_now_ms(),
            salt=os.urandom(32),
        )
        self.secrets.save_sealed(machine.battle_id, state.sealed)  # on disk before the commit binds it
        await self.node.publish_signed(
            state.sealed.commit(self.node.identity.signing_key, created_at_ms=_now_ms())
        )
        state.mark("committed")
        log.info("battle %s: committed (winner %s)", machine.battle_id.hex()[:12], verdict.winner)

    def scores_to_seal(self, scores: dict[str, dict[str, int]]) -> dict[str, dict[str, int]]:
        """The scores this node commits to: its judge's. (The demo's lying judge overrides this.)"""
        return scores

    # -- views ---------------------------------------------------------------------------------

    def verdicts(self, battle_id: bytes) -> list[tuple[str, dict[str, dict[str, int]]]]:
        """Revealed verdicts seen here: (peer ID, scores)."""
        out: list[tuple[str, dict[str, dict[str, int]]]] = []
        state = self.battles.get(battle_id)
        if state is None:
            return out
        for envelope in state.machine.reveals:
            reveal = envelope.message
            assert isinstance(reveal, VerdictReveal)
            try:
                verdict = decode_envelope(reveal.verdict, now_ms=None).message
            except Exception:
                continue
            scores = getattr(verdict, "scores", None)
            if isinstance(scores, dict):
                out.append((peer_id_from_public_key(envelope.author), scores))
        return out


def _wake_times(spec: BattleAnnounce) -> list[int]:
    """The instants (ms) at which a tick may move a battle's machine on without any message arriving:
    its deadlines, each just past where the machine compares with ``>``."""
    times = [
        spec.accept_by + ARRIVAL_GRACE_MS + 1,
        spec.join_by,
        spec.roster_by + ROSTER_GRACE_MS + 1,
        spec.commit_by,
        spec.commit_by + 1,
        spec.reveal_by + 1,
    ]
    for side in SIDES:
        times += spec.set_window(side)
    return times
