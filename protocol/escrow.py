"""A battle's prize escrow as a sans-IO machine: what a member attests, which attestations count, when
to pay, whom to report, when stakes and seat bonds go back.

``EscrowMachine`` holds no keys, sockets or chain: the node feeds it what it read from the chain
(``EntryRead``), the committee's bound addresses (``Drawn``), verified results (``ResultHeld``) and
attestations with the signer the node recovered from them (``AttestationHeld``), with an explicit
``now_ms``, and carries out the actions it returns (sign and publish, send a transaction, log a drop).
``next_deadline()`` says when a tick may change something. The rules:

- A member attests once per battle: the best held result by ``consensus.preference``, ``settle_ms``
  after the first one arrived, only once both DJs fixed this committee on chain. Its forfeits are the
  bound addresses of the members whose offences burn their seat bond. Signing one statement only is
  what makes two of a member's statements evidence (``Report``).
- An attestation counts when its author is on the committee, its signer is the author's bound address,
  it names a DJ, and a verified result of its hash is held that names that DJ and those forfeits; a
  wrong one is dropped with the reason; one whose result has not arrived waits until ``reveal_by`` plus
  ``BUNDLE_GRACE_MS``. Two different statements by one member's key are reported, whatever else holds.
- The collector pays at 2f+1 distinct members on one (result, winner, forfeits).
- From the deadline (chain time) with no payout a staker refunds; a bonded node releases its bond then,
  or as soon as the committee is fixed without it.
- A transaction that failed (refused, timed out, its answer lost) is asked for again after ``RETRY_MS``;
  the contract refuses a second payout or refund, so asking twice never pays twice. One that went
  through is checked against the entry: when ``VANISHED_AFTER_READS`` reads in a row miss its effect (a
  reorganisation dropped it), it is asked for again (``Vanished``). The entry is read until it has shown
  nothing owed for ``FINALITY_MS``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from djmesh.protocol.consensus import Result, best_result, faults_tolerated, forfeiting_members

#: how long after the reveal deadline an attestation may wait for the bundle it signs
BUNDLE_GRACE_MS = 60_000
#: bounds on what peers can make a machine hold
MAX_RESULTS = 64
MAX_PENDING = 256
MAX_DROPPED = 1024
MAX_STATEMENTS_PER_SIGNER = 2  # the second different one is already the proof
#: a transaction that failed is asked for again no sooner than this
RETRY_MS = 10_000
#: reads of the entry after a transaction went through that must all still miss its effect before it
#: counts as dropped by a reorganisation (the first may have begun before the transaction was mined)
VANISHED_AFTER_READS = 2
#: how long the entry must keep showing nothing owed before the node stops reading it (a reorganisation
#: deeper than this, in wall time, is not watched for)
FINALITY_MS = 15 * 60_000


# ---- events -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class EntryRead:
    """The battle's escrow entry and our part in it, as read from the chain at ``chain_now_s``."""

    chain_now_s: int
    deadline_s: int
    settled: bool
    seat_bond: int
    committee_fixed: bool
    committee_agreed: bool  # fixed, and to the addresses of our drawn committee
    stake: int = 0  # ours
    bond: int = 0  # ours


@dataclass(frozen=True)
class Drawn:
    """The battle's committee (member keys, draw order) and each member's bound EVM address."""

    committee: tuple[bytes, ...]
    addresses: dict[bytes, str]


@dataclass(frozen=True)
class Joined:
    """This node joined the battle as a candidate (it posts the seat bond, if one is asked)."""


@dataclass(frozen=True)
class ResultHeld:
    """A judged result that verified and rests on this battle's drawn committee."""

    result: Result


@dataclass(frozen=True)
class AttestationHeld:
    """A ``battle_attestation`` as received; ``signer`` is the address its signature recovers to over
    what it says (None: an invalid signature)."""

    content_id: bytes
    author: bytes
    winner: str
    result_hash: bytes
    forfeits: tuple[str, ...]
    signature: bytes
    signer: str | None

    @property
    def statement(self) -> tuple[str, bytes, tuple[str, ...]]:
        return (self.winner, self.result_hash, self.forfeits)


@dataclass(frozen=True)
class Sent:
    """A transaction an action asked for went through (``ok``) or failed (it may be asked again)."""

    action: str  # "pay", "refund", "release", "bond", "report:<address>"
    ok: bool


@dataclass(frozen=True)
class Tick:
    """Time passes."""


EscrowEvent = EntryRead | Drawn | Joined | ResultHeld | AttestationHeld | Sent | Tick


# ---- actions ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Attest:
    """Sign Result(battle, winner, result_hash, forfeits) with our bound key and publish it."""

    result_hash: bytes
    winner: str
    forfeits: tuple[str, ...]


@dataclass(frozen=True)
class Pay:
    """Submit the payout with these attestations (2f+1 distinct members, one statement)."""

    result_hash: bytes
    winner: str
    forfeits: tuple[str, ...]
    attestations: tuple[AttestationHeld, ...]


@dataclass(frozen=True)
class Report:
    """Show the escrow two different statements one member signed: its seat bond burns."""

    first: AttestationHeld
    second: AttestationHeld


@dataclass(frozen=True)
class Dropped:
    attestation: AttestationHeld
    reason: str


@dataclass(frozen=True)
class Vanished:
    """A transaction that went through is no longer on the chain (reorganised away): asked for again."""

    action: str


@dataclass(frozen=True)
class PostBond:
    amount: int


@dataclass(frozen=True)
class Refund:
    """Take our stake back (deadline passed, nobody paid)."""


@dataclass(frozen=True)
class ReleaseBond:
    """Take our seat bond back; ``committee`` (canonical addresses) when released before the deadline."""

    committee: tuple[str, ...]


EscrowAction = Attest | Pay | Report | Dropped | PostBond | Refund | ReleaseBond | Vanished

#: what the entry shows once each of our transactions is on the chain
_EFFECT_SHOWN: dict[str, Callable[[EntryRead], bool]] = {
    "pay": lambda e: e.settled,
    "refund": lambda e: e.stake == 0,
    "release": lambda e: e.bond == 0,
}


def quorum(committee_size: int) -> int:
    return 2 * faults_tolerated(committee_size) + 1


def canonical(addresses: set[str] | list[str] | tuple[str, ...]) -> tuple[str, ...]:
    """Addresses in the contracts' order: ascending by numeric value, each once."""
    return tuple(sorted(set(addresses), key=lambda a: int(a, 16)))


@dataclass
class EscrowMachine:
    """One battle's escrow as this node sees it. ``me``/``my_address``: our peer key and EVM address;
    ``dj_addresses``: side -> DJ address (from the announced terms); ``collect``: pay as collector
    (None: only when we are the winner); ``attest``: sign as a member."""

    battle_id: bytes
    dj_addresses: dict[str, str]
    reveal_by_ms: int
    me: bytes
    my_address: str
    attest: bool = True
    collect: bool | None = None
    auto_refund: bool = True
    settle_ms: int = 1000

    committee: tuple[bytes, ...] | None = None
    member_address: dict[bytes, str] = field(default_factory=dict)
    entry: EntryRead | None = None
    results: dict[bytes, Result] = field(default_factory=dict)
    first_result_ms: int | None = None
    attested: bytes | None = None  # the result hash we signed (once)
    pending: dict[bytes, AttestationHeld] = field(default_factory=dict)
    valid: dict[tuple[str, bytes, tuple[str, ...]], dict[str, AttestationHeld]] = field(default_factory=dict)
    counted: set[bytes] = field(default_factory=set)
    dropped: dict[bytes, str] = field(default_factory=dict)
    statements: dict[str, dict[tuple[str, bytes, tuple[str, ...]], AttestationHeld]] = field(
        default_factory=dict
    )
    reported: set[str] = field(default_factory=set)
    joined: bool = False
    in_flight: set[str] = field(default_factory=set)  # transactions asked for and not reported back
    done: set[str] = field(default_factory=set)  # transactions that went through
    failed_at: dict[str, int] = field(default_factory=dict)  # transactions that failed, when
    unconfirmed: dict[str, int] = field(default_factory=dict)  # went through: reads since that missed it
    owed_nothing_since_ms: int | None = None  # since when every read showed nothing left to do

    _now_ms: int = 0

    # ---- the interface ----------------------------------------------------------------------------

    def handle(self, event: EscrowEvent, now_ms: int) -> list[EscrowAction]:
        actions: list[EscrowAction] = []
        self._now_ms = now_ms
        if isinstance(event, EntryRead):
            self.entry = event
            self._check_effects(event, actions)
            if not self._owes(event):
                self.owed_nothing_since_ms = self.owed_nothing_since_ms or now_ms
            else:
                self.owed_nothing_since_ms = None
        elif isinstance(event, Drawn):
            if self.committee is None:
                self.committee = event.committee
                self.member_address = {m: event.addresses[m] for m in event.committee if m in event.addresses}
        elif isinstance(event, Joined):
            self.joined = True
        elif isinstance(event, ResultHeld):
            self._hold(event.result, now_ms)
        elif isinstance(event, AttestationHeld):
            known = event.content_id in self.counted or event.content_id in self.dropped
            if not known and (len(self.pending) < MAX_PENDING or event.content_id in self.pending):
                self.pending[event.content_id] = event
        elif isinstance(event, Sent):
            self.in_flight.discard(event.action)
            if event.ok:
                self.done.add(event.action)
                if event.action in _EFFECT_SHOWN:
                    self.unconfirmed[event.action] = 0
            else:
                self.failed_at[event.action] = now_ms
        if self.committee is not None:
            for held in list(self.pending.values()):
                self._remember(held)
                self._evaluate(held, now_ms, actions)
        actions += self._steps(now_ms)
        return actions

    def next_deadline(self) -> int | None:
        """The next wall-clock ms at which a tick may act (chain deadlines come with ``EntryRead``)."""
        times = []
        if self._may_attest() and self.first_result_ms is not None:
            times.append(self.first_result_ms + self.settle_ms)
        if self.pending:
            times.append(self.reveal_by_ms + BUNDLE_GRACE_MS + 1)
        times += [at + RETRY_MS for action, at in self.failed_at.items() if action not in self.done]
        return min(times) if times else None

    @property
    def busy(self) -> bool:
        """Whether a fresh entry may unlock a step soon (read the chain often), rather than only the
        deadline (read it now and then)."""
        entry = self.entry
        if entry is None:
            return self.joined or self.committee is not None
        if self.joined and entry.seat_bond > 0 and entry.bond == 0 and not entry.committee_fixed:
            return True
        if self._may_attest() and self.results and not entry.committee_agreed:
            return True
        needed = quorum(len(self.committee)) if self.committee else 0
        return not entry.settled and any(len(group) >= needed for group in self.valid.values())

    @property
    def awaits_attestations(self) -> bool:
        """Whether this node pays or reports and may be missing attestations: it holds a result of the
        committee fixed on chain, nothing is paid, and no statement has its quorum yet. Gossip never
        resends what it lost, so the node fetches the battle's messages again while this holds."""
        entry = self.entry
        if entry is None or self.committee is None or not self.results:
            return False
        if entry.settled or entry.chain_now_s >= entry.deadline_s or not entry.committee_agreed:
            return False
        counts = self.collect is True or (
            self.collect is None and self.my_address in self.dj_addresses.values()
        )
        needed = quorum(len(self.committee))
        return counts and not any(len(group) >= needed for group in self.valid.values())

    @property
    def finished(self) -> bool:
        """Nothing left for this node to do here (no more chain reads needed): the entry has shown
        nothing owed for ``FINALITY_MS``."""
        since = self.owed_nothing_since_ms
        return since is not None and self._now_ms >= since + FINALITY_MS

    @staticmethod
    def _owes(entry: EntryRead) -> bool:
        """Whether the entry still holds something of ours, or a payout may still come."""
        if entry.chain_now_s < entry.deadline_s and not entry.settled:
            return True
        return not (entry.stake == 0 or entry.settled) or entry.bond != 0

    def _check_effects(self, entry: EntryRead, actions: list[EscrowAction]) -> None:
        """Transactions that went through but whose effect the chain no longer shows are asked again."""
        for action in list(self.unconfirmed):
            if _EFFECT_SHOWN[action](entry):
                self.unconfirmed[action] = 0  # on the chain now; still watched (a later reorg may drop it)
                continue
            self.unconfirmed[action] += 1
            if self.unconfirmed[action] >= VANISHED_AFTER_READS:
                del self.unconfirmed[action]
                self.done.discard(action)
                actions.append(Vanished(action))

    # ---- results and our attestation ----------------------------------------------------------------

    def _hold(self, result: Result, now_ms: int) -> None:
        if result.battle_id != self.battle_id or result.forfeit is not None:
            return
        if self.committee is not None and result.committee != self.committee:
            return
        if result.result_hash not in self.results and len(self.results) >= MAX_RESULTS:
            return
        self.results[result.result_hash] = result
        if self.first_result_ms is None:
            self.first_result_ms = now_ms

    def forfeits_of(self, result: Result) -> tuple[str, ...] | None:
        """The bound addresses of the members whose offences in ``result`` burn their bond (None: one
        of them has no known address)."""
        offenders = forfeiting_members(result.offences)
        if any(m not in self.member_address for m in offenders):
            return None
        return canonical([self.member_address[m] for m in offenders])

    def _may_attest(self) -> bool:
        return (
            self.attest and self.attested is None and self.committee is not None and self.me in self.committee
        )

    def _attest(self, now_ms: int) -> list[EscrowAction]:
        if not self._may_attest() or self.first_result_ms is None:
            return []
        if now_ms < self.first_result_ms + self.settle_ms:
            return []
        if self.entry is None or not self.entry.committee_agreed:
            return []  # members attest only the committee both DJs fixed on chain
        best = best_result(self.results.values())
        if best is None:
            return []
        forfeits = self.forfeits_of(best)
        if forfeits is None:
            return []
        self.attested = best.result_hash
        return [Attest(best.result_hash, self.dj_addresses[best.winner], forfeits)]

    # ---- attestations ---------------------------------------------------------------------------------

    def _remember(self, held: AttestationHeld) -> None:
        """Keep a genuine member statement (signed by the author's bound key); the second different one
        is the evidence ``equivocators`` holds."""
        if held.signer is None or held.signer != self.member_address.get(held.author):
            return
        if held.author == self.me:
            self.attested = self.attested or held.result_hash  # ours, e.g. from before a restart
        said = self.statements.setdefault(held.signer, {})
        if held.statement not in said and len(said) < MAX_STATEMENTS_PER_SIGNER:
            said[held.statement] = held

    @property
    def equivocators(self) -> dict[str, tuple[AttestationHeld, AttestationHeld]]:
        """Members (by address) who signed two different statements about this battle, with the two."""
        out = {}
        for signer, said in self.statements.items():
            if len(said) >= 2:
                first, second = list(said.values())[:2]
                out[signer] = (first, second)
        return out

    def _reject_reason(self, held: AttestationHeld, now_ms: int) -> str | None:
        """None: valid; "": undecided (its result has not arrived); otherwise why it is dropped."""
        if held.author not in (self.committee or ()):
            return "its author is not on the committee"
        bound = self.member_address.get(held.author)
        if bound is None:
            return "its author has no wallet binding"
        if held.winner not in self.dj_addresses.values():
            return "it names neither DJ as the winner"
        if held.signer is None:
            return "its signature is invalid"
        if held.signer != bound:
            return f"signed by {held.signer}, not by the member's bound address {bound}"
        result = self.results.get(held.result_hash)
        if result is None:
            return (
                "no verified bundle of the result it signs arrived"
                if now_ms > (self.reveal_by_ms + BUNDLE_GRACE_MS)
                else ""
            )
        if self.dj_addresses[result.winner] != held.winner:
            return f"the result it signs names DJ {result.winner.upper()}, not {held.winner}"
        if self.forfeits_of(result) != held.forfeits:
            return "its forfeits are not the members the result's offences name"
        return None

    def _evaluate(self, held: AttestationHeld, now_ms: int, actions: list[EscrowAction]) -> None:
        if self.committee is None:
            return  # the committee (and its addresses) not known yet: look again later
        reason = self._reject_reason(held, now_ms)
        if reason == "":
            return
        self.pending.pop(held.content_id, None)
        if reason is not None:
            if len(self.dropped) < MAX_DROPPED:
                self.dropped[held.content_id] = reason
            actions.append(Dropped(held, reason))
            return
        assert held.signer is not None
        self.valid.setdefault(held.statement, {}).setdefault(held.signer, held)
        self.counted.add(held.content_id)

    # ---- chain steps ----------------------------------------------------------------------------------

    def _collects(self, winner: str) -> bool:
        return self.collect if self.collect is not None else winner == self.my_address

    def _ask(self, action: str) -> bool:
        if action in self.in_flight or action in self.done:
            return False
        failed = self.failed_at.get(action)
        if failed is not None and self._now_ms < failed + RETRY_MS:
            return False
        self.in_flight.add(action)
        return True

    def _steps(self, now_ms: int) -> list[EscrowAction]:
        self._now_ms = now_ms
        actions: list[EscrowAction] = self._attest(now_ms)
        entry = self.entry
        if entry is None:
            return actions
        open_ = entry.chain_now_s < entry.deadline_s
        if (
            self.joined
            and entry.seat_bond > 0
            and entry.bond == 0
            and not entry.committee_fixed
            and open_
            and self._ask("bond")
        ):
            actions.append(PostBond(entry.seat_bond))
        reporter = self.collect is True or self.my_address in self.dj_addresses.values()
        if reporter and entry.seat_bond > 0:
            for signer, (first, second) in self.equivocators.items():
                # not "reported" as a condition: a report whose transaction failed (a nonce race with our
                # own payout, a busy chain) is asked for again after the retry pause, like any other step
                if self._ask(f"report:{signer}"):
                    self.reported.add(signer)
                    actions.append(Report(first, second))
        if open_ and not entry.settled and entry.committee_agreed and self.committee is not None:
            needed = quorum(len(self.committee))
            for (winner, result_hash, forfeits), group in self.valid.items():
                if len(group) >= needed and self._collects(winner) and self._ask("pay"):
                    ordered = tuple(group[s] for s in canonical(tuple(group)))
                    actions.append(Pay(result_hash, winner, forfeits, ordered))
                    break
        if not open_ and self.auto_refund and not entry.settled and entry.stake > 0 and self._ask("refund"):
            actions.append(Refund())
        if entry.bond > 0:
            members = set(self.member_address.values())
            unseated = entry.committee_fixed and self.my_address not in members and self.committee is not None
            if (not open_ or unseated) and self._ask("release"):
                actions.append(ReleaseBond(() if not open_ else canonical(tuple(members))))
        return actions


__all__ = [
    "BUNDLE_GRACE_MS",
    "Attest",
    "AttestationHeld",
    "Drawn",
    "Dropped",
    "EntryRead",
    "EscrowAction",
    "EscrowEvent",
    "EscrowMachine",
    "Joined",
    "Pay",
    "PostBond",
    "Refund",
    "ReleaseBond",
    "Report",
    "ResultHeld",
    "Sent",
    "Tick",
    "Vanished",
    "canonical",
    "quorum",
]
