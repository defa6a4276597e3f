"""Battles: their signed message kinds and the battle as a sans-IO state machine.

A battle is the content ID of its ``battle_announce`` (by DJ A, naming DJ B and the rules).
DJ B accepts; viewers who want to judge join before ``join_by``; then each DJ signs a roster
of the joins it saw and opens its seed commitment, which fixes the committee (``committee``);
each DJ publishes a signed tracklist as their set starts; after the sets the committee
commits to verdicts, then reveals them (as soon as every member has committed, at the latest
after the commit deadline); anyone may publish the result bundle. A DJ may withdraw; a set
that never came is a forfeit on 2f+1 members' ``battle_absent``.

``BattleMachine`` holds no sockets and no clock: the caller feeds it received envelopes
and ticks with an explicit ``now_ms`` and carries out the actions it returns, in the
style of h11 and aioquic.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import TYPE_CHECKING, ClassVar, Self

from djmesh.protocol import schema
from djmesh.protocol.cbor import CborKey, CborValue
from djmesh.protocol.envelope import SignedEnvelope
from djmesh.protocol.errors import InvalidPayloadError
from djmesh.protocol.messages import Message, register

if TYPE_CHECKING:
    from djmesh.protocol.consensus import Result

BATTLES_TOPIC = "/djmesh/1/battles"
#: genre -> BPM range a DJ must stay within (DJ-style tempo: drum & bass at ~174, not 87)
GENRES: dict[str, tuple[int, int]] = {
    "house": (115, 135),
    "techno": (120, 150),
    "trance": (125, 145),
    "hiphop": (80, 110),
    "dnb": (160, 180),
    "dubstep": (135, 145),
}
#: the judge's criteria (the scoring model outputs them in this order)
CRITERIA: tuple[str, ...] = (
    "beatmatch",
    "tempo",
    "transitions",
    "phrasing",
    "gain",
    "harmonic",
    "energy",
    "variety",
    "rules",
)
#: what every verdict scores, per side, in centi-points (0..1000): judge criteria and aggregates
VERDICT_KEYS: tuple[str, ...] = (*CRITERIA, "technical", "musical", "crowd", "total")
MAX_SCORE = 1000


def centi_points(value: float) -> int:
    """A judge's 0..10 score as the integer centi-points a verdict carries (clamped to 0..MAX_SCORE)."""
    return max(0, min(MAX_SCORE, round(value * 100)))


#: how long after a deadline a message signed before it may still arrive (gossip delay)
ARRIVAL_GRACE_MS = 10_000
#: rosters and seeds travel one after the other (a seed waits for both rosters): twice the grace
ROSTER_GRACE_MS = 2 * ARRIVAL_GRACE_MS
MAX_COMMITTEE = 31
MAX_TRACKS = 16
SIDES = ("a", "b")


def battle_topic(battle_id: bytes) -> str:
    return f"/djmesh/1/battle/{battle_id.hex()}"


def _genre(payload: schema.Payload) -> str:
    value = schema.text(payload, "genre", min_chars=1, max_chars=32)
    if value not in GENRES:
        raise InvalidPayloadError(f"genre: unknown genre {value[:32]!r}")
    return value


@dataclass(frozen=True)
class Rules:
    """What both DJs agree to by announcing and accepting; the judge reads bpm and tracks."""

    genre: str = "house"
    bpm_min: int = 115
    bpm_max: int = 135
    tracks: int = 6
    set_seconds: int = 1200
    model: bytes = b"\0" * 32  # SHA-256 of the judge model every committee member must run
    committee_size: int = 4  # 3f + 1
    crowd_weight_permille: int = 0
    mode: str = "sequential"  # or "simultaneous"

    MODES: ClassVar[tuple[str, ...]] = ("sequential", "simultaneous")

    @classmethod
    def for_genre(cls, genre: str, **overrides: object) -> Rules:
        lo, hi = GENRES[genre]
        return cls(genre=genre, bpm_min=lo, bpm_max=hi, **overrides)  # type: ignore[arg-type]

    @property
    def crowd_weight(self) -> float:
        return self.crowd_weight_permille / 1000.0

    @property
    def faults(self) -> int:
        """f: how many lying members the committee tolerates (n = 3f + 1)."""
        return (self.committee_size - 1) // 3

    @property
    def quorum(self) -> int:
        return 2 * self.faults + 1

    def to_payload(self) -> dict[str, CborValue]:
        return {
            "genre": self.genre,
            "bpm_min": self.bpm_min,
            "bpm_max": self.bpm_max,
            "tracks": self.tracks,
            "set_seconds": self.set_seconds,
            "model": self.model,
            "committee_size": self.committee_size,
            "crowd_weight": self.crowd_weight_permille,
            "mode": self.mode,
        }

    @classmethod
    def from_payload(cls, payload: schema.Payload) -> Rules:
        rules = cls(
            genre=_genre(payload),
            bpm_min=schema.integer(payload, "bpm_min", minimum=40, maximum=250),
            bpm_max=schema.integer(payload, "bpm_max", minimum=40, maximum=250),
            tracks=schema.integer(payload, "tracks", minimum=1, maximum=MAX_TRACKS),
            set_seconds=schema.integer(payload, "set_seconds", minimum=10, maximum=4 * 3600),
            model=schema.required_digest(payload, "model"),
            committee_size=schema.integer(payload, "committee_size", minimum=1, maximum=MAX_COMMITTEE),
            crowd_weight_permille=schema.integer(payload, "crowd_weight", minimum=0, maximum=1000),
            mode=schema.choice(payload, "mode", cls.MODES),
        )
        if rules.bpm_min >= rules.bpm_max:
            raise InvalidPayloadError("bpm_min must be below bpm_max")
        if rules.committee_size % 3 != 1:
            raise InvalidPayloadError("committee_size must be 3f + 1")
        return rules


_ESCROW_FIELDS = frozenset({"chain_id", "contract", "dj_a", "dj_b", "deadline"})
#: the latest escrow deadline (Unix seconds) a node accepts: year 2286, well inside every integer type
MAX_DEADLINE_S = 10**10


def _evm_address(payload: schema.Payload, name: str) -> bytes:
    value = schema.blob(payload, name, max_bytes=20)
    if len(value) != 20 or value == bytes(20):
        raise InvalidPayloadError(f"escrow.{name}: expected a non-zero 20-byte EVM address")
    return value


@dataclass(frozen=True)
class EscrowTerms:
    """Where a battle's prize is staked: a BattleEscrow contract on an EVM chain (ledger/evm).

    DJ A opens the escrow entry under the battle ID with ``dj_b`` as opponent and this ``deadline``
    (Unix seconds, the chain's block time) before publishing the announcement; by accepting, DJ B
    accepts these terms. After the deadline without a payout, every staker can take their stake back.
    """

    chain_id: int
    contract: bytes  # 20-byte address of the BattleEscrow contract
    dj_a: bytes  # DJ A's EVM address (the account that opens the escrow entry)
    dj_b: bytes  # DJ B's EVM address, from DJ B's wallet binding
    deadline: int

    def to_payload(self) -> dict[CborKey, CborValue]:
        return {
            "chain_id": self.chain_id,
            "contract": self.contract,
            "dj_a": self.dj_a,
            "dj_b": self.dj_b,
            "deadline": self.deadline,
        }

    @classmethod
    def from_payload(cls, value: CborValue) -> EscrowTerms:
        if not isinstance(value, dict) or not all(isinstance(k, str) for k in value):
            raise InvalidPayloadError("escrow: expected a map (omit it for a battle without a prize escrow)")
        payload = {str(k): v for k, v in value.items()}
        unknown = sorted(set(payload) - _ESCROW_FIELDS)
        if unknown:
            raise InvalidPayloadError(f"escrow: unknown fields: {', '.join(unknown)}")
        terms = cls(
            chain_id=schema.integer(payload, "chain_id", minimum=1, maximum=2**53 - 1),
            contract=_evm_address(payload, "contract"),
            dj_a=_evm_address(payload, "dj_a"),
            dj_b=_evm_address(payload, "dj_b"),
            deadline=schema.integer(payload, "deadline", minimum=1, maximum=MAX_DEADLINE_S),
        )
        if terms.dj_a == terms.dj_b:
            raise InvalidPayloadError("escrow: the two DJs need two different addresses")
        return terms


_RULE_FIELDS = frozenset(Rules().to_payload())
_DEADLINE_FIELDS = frozenset({"accept_by", "join_by", "start_at", "commit_seconds", "reveal_seconds"})
#: the most viewers a DJ's roster names (the committee is drawn from the viewers both rosters name)
MAX_ROSTER = 64


@register
@dataclass(frozen=True)
class BattleAnnounce(Message):
    """DJ A challenges DJ B under ``rules``; its content ID is the battle ID.

    An open challenge (``"open": true`` in place of ``opponent``; ``opponent`` is then b"") names no
    opponent: any DJ may answer with a ``battle_accept``, and DJ B is whoever DJ A's ``battle_bind``
    names (``bound_accept``), so every node derives the same two DJs. An open challenge carries no
    escrow terms (the escrow names DJ B's address when DJ A opens it, before anyone took the seat).

    Deadlines are absolute ms (accept_by <= join_by < start_at); between ``join_by`` and
    ``start_at`` (``roster_by``) both DJs sign their rosters and reveal their seeds; after the
    sets, members have ``commit_seconds`` to commit and then ``reveal_seconds`` to reveal.
    ``seed_commit`` is DJ A's commitment to its committee-seed secret (``committee.seed_commitment``).
    """

    KIND: ClassVar[str] = "battle_announce"
    FIELDS: ClassVar[frozenset[str]] = (
        _RULE_FIELDS
        | _DEADLINE_FIELDS
        | {
            "opponent",
            "open",
            "title",
            "escrow",
            "seed_commit",
        }
    )

    opponent: bytes
    rules: Rules
    accept_by: int
    join_by: int
    start_at: int
    commit_seconds: int = 60
    reveal_seconds: int = 60
    title: str = ""
    escrow: EscrowTerms | None = None  # absent from the payload when None
    seed_commit: bytes = bytes(32)

    def to_payload(self) -> dict[str, CborValue]:
        payload: dict[str, CborValue] = {
            **self.rules.to_payload(),
            "seed_commit": self.seed_commit,
            "title": self.title,
            "accept_by": self.accept_by,
            "join_by": self.join_by,
            "start_at": self.start_at,
            "commit_seconds": self.commit_seconds,
            "reveal_seconds": self.reveal_seconds,
        }
        if self.is_open:
            payload["open"] = True
        else:
            payload["opponent"] = self.opponent
        if self.escrow is not None:
            payload["escrow"] = self.escrow.to_payload()
        return payload

    @property
    def is_open(self) -> bool:
        """An open challenge: DJ B is fixed by DJ A's ``battle_bind``, not by the announcement."""
        return not self.opponent

    @classmethod
    def from_payload(cls, payload: schema.Payload) -> Self:
        ms = 2**53 - 1
        if "open" in payload:
            if payload["open"] is not True:
                raise InvalidPayloadError("open: expected true (omit it to name an opponent)")
            if "opponent" in payload:
                raise InvalidPayloadError("an open challenge names no opponent")
            if "escrow" in payload:
                raise InvalidPayloadError("an open challenge carries no escrow terms")
        out = cls(
            opponent=b"" if "open" in payload else schema.required_digest(payload, "opponent"),
            rules=Rules.from_payload(payload),
            accept_by=schema.integer(payload, "accept_by", minimum=0, maximum=ms),
            join_by=schema.integer(payload, "join_by", minimum=0, maximum=ms),
            start_at=schema.integer(payload, "start_at", minimum=0, maximum=ms),
            commit_seconds=schema.integer(payload, "commit_seconds", minimum=1, maximum=86400),
            reveal_seconds=schema.integer(payload, "reveal_seconds", minimum=1, maximum=86400),
            title=schema.text(payload, "title", max_chars=128, default=""),
            escrow=EscrowTerms.from_payload(payload["escrow"]) if "escrow" in payload else None,
            seed_commit=schema.required_digest(payload, "seed_commit"),
        )
        if not out.accept_by <= out.join_by < out.start_at:
            raise InvalidPayloadError("deadlines must satisfy accept_by <= join_by < start_at")
        if out.escrow is not None and out.escrow.deadline * 1000 <= out.reveal_by:
            raise InvalidPayloadError("escrow.deadline must come after the reveal deadline")
        return out

    # -- the schedule every node derives from the announcement --
    def set_window(self, side: str) -> tuple[int, int]:
        length = self.rules.set_seconds * 1000
        if self.rules.mode == "simultaneous" or side == "a":
            return self.start_at, self.start_at + length
        return self.start_at + length, self.start_at + 2 * length

    @property
    def roster_by(self) -> int:
        """Rosters and seed reveals are signed in [join_by, roster_by]: the committee is fixed before the sets."""
        return self.start_at

    @property
    def sets_end(self) -> int:
        return self.set_window("b")[1]

    @property
    def commit_by(self) -> int:
        return self.sets_end + self.commit_seconds * 1000

    @property
    def reveal_by(self) -> int:
        return self.commit_by + self.reveal_seconds * 1000

    def route(self, author: bytes, content_id: bytes) -> tuple[str, ...] | None:
        # and a copy to the opponent's inbox: a challenge reaches them (and their notifications)
        # even when they follow no battles
        from djmesh.protocol.topics import inbox_topic

        if self.is_open:
            return (battle_topic(content_id), BATTLES_TOPIC)
        return (battle_topic(content_id), BATTLES_TOPIC, inbox_topic(self.opponent))


@dataclass(frozen=True)
class BattleMessage(Message):
    """A message about one battle; it travels on that battle's topic.

    The payload of a kind that says no more than which battle (accept, join) is this field alone.
    """

    FIELDS: ClassVar[frozenset[str]] = frozenset({"battle"})

    battle: bytes

    def to_payload(self) -> dict[str, CborValue]:
        return {"battle": self.battle}

    @classmethod
    def from_payload(cls, payload: schema.Payload) -> Self:
        return cls(battle=schema.required_digest(payload, "battle"))

    def route(self, author: bytes, content_id: bytes) -> tuple[str, ...] | None:
        return (battle_topic(self.battle),)


#: the secp256k1 group order: a gate signature's r and s lie in [1, N); s in the lower half (not malleable)
SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141


def gate_signature(payload: schema.Payload, name: str) -> bytes:
    """A 65-byte r || s || v EIP-712 signature as the ListenGate takes it (v 27/28, low s), or b"" when absent."""
    if name not in payload:
        return b""
    value = schema.blob(payload, name, max_bytes=65)
    if len(value) != 65:
        raise InvalidPayloadError(f"{name}: expected a 65-byte r || s || v signature")
    r, s, v = int.from_bytes(value[:32]), int.from_bytes(value[32:64]), value[64]
    if v not in (27, 28) or not 0 < r < SECP256K1_N or not 0 < s <= SECP256K1_N // 2:
        raise InvalidPayloadError(f"{name}: not a canonical signature (v 27/28, r and s in range, low s)")
    return value


@register
@dataclass(frozen=True)
class BattleAccept(BattleMessage):
    """DJ B takes the challenge (only DJ B's accept counts), committing to its committee-seed secret.

    ``gate_signature`` (absent when empty) is DJ B's wallet's EIP-712 signature over the battle's
    ListenGate terms (``node.battle.gate_entry``), so DJ A's node can open the gate entry with both.
    """

    KIND: ClassVar[str] = "battle_accept"
    FIELDS: ClassVar[frozenset[str]] = frozenset({"battle", "seed_commit", "gate_signature"})

    seed_commit: bytes = bytes(32)
    gate_signature: bytes = b""

    def to_payload(self) -> dict[str, CborValue]:
        payload: dict[str, CborValue] = {"battle": self.battle, "seed_commit": self.seed_commit}
        if self.gate_signature:
            payload["gate_signature"] = self.gate_signature
        return payload

    @classmethod
    def from_payload(cls, payload: schema.Payload) -> Self:
        return cls(
            battle=schema.required_digest(payload, "battle"),
            seed_commit=schema.required_digest(payload, "seed_commit"),
            gate_signature=gate_signature(payload, "gate_signature"),
        )

    def route(self, author: bytes, content_id: bytes) -> tuple[str, ...] | None:
        return (battle_topic(self.battle), BATTLES_TOPIC)


#: the largest taker's accept a ``battle_bind`` carries (a real one is under 400 bytes)
MAX_BOUND_ACCEPT_BYTES = 1024
#: takers of one open challenge a node holds while it is unbound (first come, one per DJ); DJ A's node
#: binds the first, the others are kept only to be shown (``djmesh battle show``)
MAX_TAKERS = 16


@register
@dataclass(frozen=True)
class BattleBind(BattleMessage):
    """DJ A fixes who took its open challenge: the taker's own signed ``battle_accept``, carried whole.

    Only DJ A can sign it, so nobody else can give the seat away; carrying the accept means every node
    that holds the bind holds the same DJ B and DJ B's seed commitment, whatever gossip brought it.
    A second bind naming another taker is DJ A equivocating: the battle is cancelled (``BattleMachine``).
    """

    KIND: ClassVar[str] = "battle_bind"
    FIELDS: ClassVar[frozenset[str]] = frozenset({"battle", "accept"})

    accept: bytes = b""

    def to_payload(self) -> dict[str, CborValue]:
        return {"battle": self.battle, "accept": self.accept}

    @classmethod
    def from_payload(cls, payload: schema.Payload) -> Self:
        accept = schema.blob(payload, "accept", max_bytes=MAX_BOUND_ACCEPT_BYTES)
        if not accept:
            raise InvalidPayloadError("accept: expected the taker's signed battle_accept")
        return cls(battle=schema.required_digest(payload, "battle"), accept=accept)

    def route(self, author: bytes, content_id: bytes) -> tuple[str, ...] | None:
        return (battle_topic(self.battle), BATTLES_TOPIC)


def bound_accept(bind: SignedEnvelope, announce: SignedEnvelope) -> SignedEnvelope:
    """The taker's accept that ``bind`` carries, once checked; ``InvalidPayloadError`` says why not.

    The bind must be DJ A's, of this open challenge, signed by ``accept_by``; the accept must verify,
    be a ``battle_accept`` of this battle by someone other than DJ A, also signed by ``accept_by``.
    """
    from djmesh.protocol.envelope import decode_envelope
    from djmesh.protocol.errors import ProtocolError

    spec, message = announce.message, bind.message
    assert isinstance(spec, BattleAnnounce)
    if not isinstance(message, BattleBind) or message.battle != announce.content_id:
        raise InvalidPayloadError("not a battle_bind of this battle")
    if not spec.is_open:
        raise InvalidPayloadError("battle_bind for a challenge that names its opponent")
    if bind.author != announce.author:
        raise InvalidPayloadError("battle_bind not signed by the challenger")
    if bind.created_at_ms > spec.accept_by:
        raise InvalidPayloadError("battle_bind signed after accept_by")
    try:
        accept = decode_envelope(message.accept, now_ms=None, max_bytes=MAX_BOUND_ACCEPT_BYTES)
    except ProtocolError as exc:
        raise InvalidPayloadError(f"battle_bind: the accept it carries does not verify: {exc}") from exc
    if not isinstance(accept.message, BattleAccept) or accept.message.battle != announce.content_id:
        raise InvalidPayloadError("battle_bind carries no battle_accept of this battle")
    if accept.author == announce.author:
        raise InvalidPayloadError("the challenger cannot take its own open challenge")
    if accept.created_at_ms > spec.accept_by:
        raise InvalidPayloadError("the bound battle_accept was signed after accept_by")
    return accept


def battle_djs(announce: SignedEnvelope, accept: SignedEnvelope | None) -> dict[str, bytes]:
    """Side -> DJ key. In an open challenge DJ B is the bound accept's author (b"" until bound): the
    caller passes only an accept it took from a checked ``battle_bind``."""
    spec = announce.message
    assert isinstance(spec, BattleAnnounce)
    if not spec.is_open:
        return {"a": announce.author, "b": spec.opponent}
    return {"a": announce.author, "b": accept.author if accept is not None else b""}


@register
@dataclass(frozen=True)
class BattleJoin(BattleMessage):
    """A viewer offers to judge; the committee is drawn from those who join by ``join_by``."""

    KIND: ClassVar[str] = "battle_join"


@register
@dataclass(frozen=True)
class BattleRoster(BattleMessage):
    """A DJ's list of the viewers whose joins it saw by ``join_by`` (sorted keys, DJs excluded).

    Signed in [join_by, roster_by]. The committee is drawn from the viewers both DJs' rosters name,
    so a seat needs both DJs' consent (docs/PROTOCOL.md, threat model).
    """

    KIND: ClassVar[str] = "battle_roster"
    FIELDS: ClassVar[frozenset[str]] = frozenset({"battle", "members"})

    members: tuple[bytes, ...]

    def to_payload(self) -> dict[str, CborValue]:
        return {"battle": self.battle, "members": list(self.members)}

    @classmethod
    def from_payload(cls, payload: schema.Payload) -> Self:
        members = schema.digest_list(payload, "members", max_items=MAX_ROSTER)
        if any(b <= a for a, b in itertools.pairwise(members)):
            raise InvalidPayloadError("members: sorted, without duplicates")
        return cls(battle=schema.required_digest(payload, "battle"), members=members)


@register
@dataclass(frozen=True)
class BattleSeed(BattleMessage):
    """A DJ opens its seed commitment once it holds both rosters, naming them (A's, then B's).

    The committee seed hashes both DJs' secrets, so nobody knew it while the rosters were open.
    """

    KIND: ClassVar[str] = "battle_seed"
    FIELDS: ClassVar[frozenset[str]] = frozenset({"battle", "secret", "rosters"})

    secret: bytes
    rosters: tuple[bytes, bytes]

    def to_payload(self) -> dict[str, CborValue]:
        return {"battle": self.battle, "secret": self.secret, "rosters": list(self.rosters)}

    @classmethod
    def from_payload(cls, payload: schema.Payload) -> Self:
        secret = schema.blob(payload, "secret", max_bytes=32)
        if len(secret) != 32:
            raise InvalidPayloadError("secret: expected 32 bytes")
        rosters = schema.digest_list(payload, "rosters", max_items=2)
        if len(rosters) != 2:
            raise InvalidPayloadError("rosters: DJ A's and DJ B's roster content IDs")
        return cls(
            battle=schema.required_digest(payload, "battle"), secret=secret, rosters=(rosters[0], rosters[1])
        )


@register
@dataclass(frozen=True)
class BattleWithdraw(BattleMessage):
    """A DJ gives up: its own signed forfeit (valid until its set window closes)."""

    KIND: ClassVar[str] = "battle_withdraw"


@register
@dataclass(frozen=True)
class BattleAbsent(BattleMessage):
    """A committee member states that ``side``'s set never came (signed after that set's window, by
    ``commit_by``). 2f+1 of them are a forfeit's evidence."""

    KIND: ClassVar[str] = "battle_absent"
    FIELDS: ClassVar[frozenset[str]] = frozenset({"battle", "side"})

    side: str

    def to_payload(self) -> dict[str, CborValue]:
        return {"battle": self.battle, "side": self.side}

    @classmethod
    def from_payload(cls, payload: schema.Payload) -> Self:
        return cls(
            battle=schema.required_digest(payload, "battle"), side=schema.choice(payload, "side", SIDES)
        )


@register
@dataclass(frozen=True)
class Tracklist(BattleMessage):
    """A DJ's declared set: track titles and cue times (ms from the set start), and its stream."""

    KIND: ClassVar[str] = "battle_tracklist"
    FIELDS: ClassVar[frozenset[str]] = frozenset({"battle", "titles", "cues_ms", "stream"})

    titles: tuple[str, ...]
    cues_ms: tuple[int, ...]
    stream: bytes | None = None

    def to_payload(self) -> dict[str, CborValue]:
        return {
            "battle": self.battle,
            "titles": list(self.titles),
            "cues_ms": list(self.cues_ms),
            "stream": self.stream,
        }

    @classmethod
    def from_payload(cls, payload: schema.Payload) -> Self:
        titles = schema.text_list(payload, "titles", max_items=MAX_TRACKS, max_chars=200)
        cues = payload.get("cues_ms")
        if not isinstance(cues, list) or len(cues) != len(titles) or not titles:
            raise InvalidPayloadError("cues_ms: one cue per title, at least one")
        if not all(isinstance(c, int) and not isinstance(c, bool) and 0 <= c < 2**32 for c in cues):
            raise InvalidPayloadError("cues_ms: integers in 0..2^32")
        ints = tuple(c for c in cues if isinstance(c, int))
        if any(b <= a for a, b in itertools.pairwise(ints)):
            raise InvalidPayloadError("cues_ms: must increase")
        return cls(
            battle=schema.required_digest(payload, "battle"),
            titles=titles,
            cues_ms=ints,
            stream=schema.digest(payload, "stream", optional=True),
        )


def parse_scores(value: CborValue, name: str = "scores") -> dict[str, dict[str, int]]:
    """``{"a": {key: centi}, "b": {...}}`` with exactly VERDICT_KEYS, each 0..1000."""
    if not isinstance(value, dict) or set(value) != set(SIDES):
        raise InvalidPayloadError(f"{name}: must map exactly a and b")
    out: dict[str, dict[str, int]] = {}
    for side in SIDES:
        row = value[side]
        if not isinstance(row, dict) or set(row) != set(VERDICT_KEYS):
            raise InvalidPayloadError(f"{name}.{side}: must have exactly the verdict keys")
        ints: dict[str, int] = {}
        for key in VERDICT_KEYS:
            v = row[key]
            if not isinstance(v, int) or isinstance(v, bool) or not 0 <= v <= MAX_SCORE:
                raise InvalidPayloadError(f"{name}.{side}.{key}: integer 0..{MAX_SCORE}")
            ints[key] = v
        out[side] = ints
    return out


def scores_payload(scores: dict[str, dict[str, int]]) -> dict[CborKey, CborValue]:
    out: dict[CborKey, CborValue] = {}
    for side in SIDES:
        row: dict[CborKey, CborValue] = {key: scores[side][key] for key in VERDICT_KEYS}
        out[side] = row
    return out


#: each criterion's weight in the judged score, in tenths (the judge model's ``judged`` aggregate: 0.1 per
#: technical and musical criterion, 0.2 for rules); only ever used to break a tie of the totals
TIE_WEIGHTS: dict[str, int] = {**dict.fromkeys(CRITERIA, 1), "rules": 2}


def fine_judged(row: Mapping[str, int]) -> int:
    """The judged score in milli-points from the centi-point criteria: ten times finer than ``total``.

    Two totals equal at 0.01 are mostly a mistake that moved its criterion by less than that
    rounding; the criteria, each rounded on its own, still show it. Integer arithmetic on what a
    verdict carries, so every node that checks a winner gets the same number.
    """
    return sum(w * row[key] for key, w in TIE_WEIGHTS.items())


def winner_of(scores: Mapping[str, Mapping[str, int]]) -> str:
    """Higher total wins; ties go to the higher ``fine_judged``, then technical, then rules, then DJ A.

    The judge picks its winner with this same function (``judge.scoring.pick_winner``).
    """
    a, b = scores["a"], scores["b"]
    for ka, kb in (
        (a["total"], b["total"]),
        (fine_judged(a), fine_judged(b)),
        (a["technical"], b["technical"]),
        (a["rules"], b["rules"]),
    ):
        if ka != kb:
            return "a" if ka > kb else "b"
    return "a"


@register
@dataclass(frozen=True)
class Verdict(BattleMessage):
    """One committee member's judgement. Published only inside a reveal, after its commit."""

    KIND: ClassVar[str] = "battle_verdict"
    FIELDS: ClassVar[frozenset[str]] = frozenset({"battle", "model", "scores", "winner"})

    model: bytes
    scores: dict[str, dict[str, int]]
    winner: str

    def to_payload(self) -> dict[str, CborValue]:
        return {
            "battle": self.battle,
            "model": self.model,
            "scores": scores_payload(self.scores),
            "winner": self.winner,
        }

    @classmethod
    def from_payload(cls, payload: schema.Payload) -> Self:
        scores = parse_scores(payload.get("scores"))
        winner = schema.choice(payload, "winner", SIDES)
        if winner != winner_of(scores):
            raise InvalidPayloadError("winner does not follow from the scores")
        return cls(
            battle=schema.required_digest(payload, "battle"),
            model=schema.required_digest(payload, "model"),
            scores=scores,
            winner=winner,
        )


@register
@dataclass(frozen=True)
class VerdictCommit(BattleMessage):
    """SHA-256 over the member's signed verdict and a secret salt: binds it before anyone reveals."""

    KIND: ClassVar[str] = "battle_commit"
    FIELDS: ClassVar[frozenset[str]] = frozenset({"battle", "commitment"})

    commitment: bytes

    def to_payload(self) -> dict[str, CborValue]:
        return {"battle": self.battle, "commitment": self.commitment}

    @classmethod
    def from_payload(cls, payload: schema.Payload) -> Self:
        return cls(
            battle=schema.required_digest(payload, "battle"),
            commitment=schema.required_digest(payload, "commitment"),
        )


@register
@dataclass(frozen=True)
class VerdictReveal(BattleMessage):
    """The signed verdict envelope and the salt that open the member's commitment."""

    KIND: ClassVar[str] = "battle_reveal"
    FIELDS: ClassVar[frozenset[str]] = frozenset({"battle", "verdict", "salt"})

    verdict: bytes
    salt: bytes

    def to_payload(self) -> dict[str, CborValue]:
        return {"battle": self.battle, "verdict": self.verdict, "salt": self.salt}

    @classmethod
    def from_payload(cls, payload: schema.Payload) -> Self:
        salt = schema.blob(payload, "salt", max_bytes=32)
        if len(salt) != 32:
            raise InvalidPayloadError("salt: expected 32 bytes")
        return cls(
            battle=schema.required_digest(payload, "battle"),
            verdict=schema.blob(payload, "verdict", max_bytes=4096),
            salt=salt,
        )


@register
@dataclass(frozen=True)
class BattleResult(BattleMessage):
    """Everything needed to check a battle's result offline (see ``consensus.verify_result``).

    ``messages`` are the envelopes the result rests on: announce, accept, joins, tracklists,
    commits, reveals and any evidence of double-signing. ``forfeit`` names a side that
    never showed up (then no committee is needed).
    """

    KIND: ClassVar[str] = "battle_result"
    FIELDS: ClassVar[frozenset[str]] = frozenset(
        {"battle", "messages", "winner", "scores", "offences", "forfeit"}
    )

    messages: tuple[bytes, ...]
    winner: str
    scores: dict[str, dict[str, int]] | None
    offences: tuple[tuple[bytes, str], ...] = ()
    forfeit: str | None = None

    OFFENCES: ClassVar[tuple[str, ...]] = (
        "outlier",
        "bad_reveal",
        "late_commit",
        "late_reveal",
        "early_reveal",
        "double_sign",
        "no_reveal",
        "wrong_model",
    )

    def to_payload(self) -> dict[str, CborValue]:
        return {
            "battle": self.battle,
            "messages": list(self.messages),
            "winner": self.winner,
            "scores": None if self.scores is None else scores_payload(self.scores),
            "offences": [[peer, kind] for peer, kind in self.offences],
            "forfeit": self.forfeit,
        }

    @classmethod
    def from_payload(cls, payload: schema.Payload) -> Self:
        raw = payload.get("messages")
        if not isinstance(raw, list) or not 1 <= len(raw) <= 256:
            raise InvalidPayloadError("messages: 1..256 envelopes")
        if not all(isinstance(m, bytes) and len(m) <= 8192 for m in raw):
            raise InvalidPayloadError("messages: each an envelope of at most 8 KiB")
        raw_offences = payload.get("offences", [])
        if not isinstance(raw_offences, list) or len(raw_offences) > MAX_COMMITTEE * 4:
            raise InvalidPayloadError("offences: a short list")
        offences: list[tuple[bytes, str]] = []
        for item in raw_offences:
            if (
                not isinstance(item, list)
                or len(item) != 2
                or not isinstance(item[0], bytes)
                or len(item[0]) != 32
                or item[1] not in cls.OFFENCES
            ):
                raise InvalidPayloadError("offences: [public key, kind] pairs")
            offences.append((item[0], str(item[1])))
        forfeit = payload.get("forfeit")
        if forfeit is not None and forfeit not in SIDES:
            raise InvalidPayloadError("forfeit: a, b or null")
        scores_value = payload.get("scores")
        return cls(
            battle=schema.required_digest(payload, "battle"),
            messages=tuple(m for m in raw if isinstance(m, bytes)),
            winner=schema.choice(payload, "winner", SIDES),
            scores=None if scores_value is None else parse_scores(scores_value),
            offences=tuple(offences),
            forfeit=forfeit if isinstance(forfeit, str) else None,
        )

    def route(self, author: bytes, content_id: bytes) -> tuple[str, ...] | None:
        return (battle_topic(self.battle), BATTLES_TOPIC)


@register
@dataclass(frozen=True)
class BattleAttestation(BattleMessage):
    """A committee member's EIP-712 signature of Result(battleId, winner, resultHash, forfeits) for the escrow.

    ``result`` is the canonical result hash of the result the member checked
    (``consensus.Result.result_hash``: the same for every bundle of that result), ``winner`` the EVM
    address of the side it names (from the escrow entry), ``forfeits`` the ascending EVM addresses of the
    members whose offences burn their seat bond (absent when none), ``signature`` 65 bytes r || s || v by
    the member's bound EVM key. Not evidence of the result: the chain counts these, the tally does not.
    Self-contained, so anyone can recover its signer and show two of one member's to the escrow.
    """

    KIND: ClassVar[str] = "battle_attestation"
    FIELDS: ClassVar[frozenset[str]] = frozenset({"battle", "result", "winner", "signature", "forfeits"})

    result: bytes
    winner: bytes
    signature: bytes
    forfeits: tuple[bytes, ...] = ()

    def to_payload(self) -> dict[str, CborValue]:
        payload: dict[str, CborValue] = {
            "battle": self.battle,
            "result": self.result,
            "winner": self.winner,
            "signature": self.signature,
        }
        if self.forfeits:
            payload["forfeits"] = list(self.forfeits)
        return payload

    @classmethod
    def from_payload(cls, payload: schema.Payload) -> Self:
        winner = schema.blob(payload, "winner", max_bytes=20)
        if len(winner) != 20:
            raise InvalidPayloadError("winner: expected a 20-byte EVM address")
        signature = schema.blob(payload, "signature", max_bytes=65)
        if len(signature) != 65 or signature[64] not in (27, 28):
            raise InvalidPayloadError("signature: expected 65 bytes r || s || v, v 27 or 28")
        forfeits = payload.get("forfeits", [])
        if not isinstance(forfeits, list) or (
            "forfeits" in payload and not 0 < len(forfeits) <= MAX_COMMITTEE
        ):
            raise InvalidPayloadError(f"forfeits: expected 1 to {MAX_COMMITTEE} EVM addresses when present")
        if not all(isinstance(a, bytes) and len(a) == 20 for a in forfeits):
            raise InvalidPayloadError("forfeits: every item must be a 20-byte EVM address")
        ordered = tuple(a for a in forfeits if isinstance(a, bytes))
        if any(x >= y for x, y in itertools.pairwise(ordered)):  # 20 bytes each: byte order is numeric order
            raise InvalidPayloadError("forfeits: addresses must be ascending and distinct")
        return cls(
            battle=schema.required_digest(payload, "battle"),
            result=schema.required_digest(payload, "result"),
            winner=winner,
            signature=signature,
            forfeits=ordered,
        )


# ---- the state machine ------------------------------------------------------------------------


class Phase(Enum):
    ANNOUNCED = "announced"
    ACCEPTED = "accepted"  # waiting for the sets to start; viewers join
    SETS = "sets"  # at least one DJ's set window is open
    COMMIT = "commit"  # sets over: committee members commit
    REVEAL = "reveal"
    DONE = "done"  # a result (or forfeit) stands
    CANCELLED = "cancelled"  # never accepted


@dataclass(frozen=True)
class Tick:
    """Time passes; the machine checks its deadlines."""


@dataclass(frozen=True)
class Received:
    envelope: SignedEnvelope


@dataclass(frozen=True)
class PhaseChanged:
    phase: Phase


@dataclass(frozen=True)
class SetOpened:
    side: str
    tracklist: Tracklist | None


@dataclass(frozen=True)
class SetClosed:
    side: str


@dataclass(frozen=True)
class JudgeNow:
    """Sets are over: a committee member should score the audio it received and commit."""

    committee: tuple[bytes, ...]


@dataclass(frozen=True)
class RevealNow:
    """Every member's verdict is bound (all committed, or the commit deadline passed): members reveal."""


@dataclass(frozen=True)
class Forfeited:
    side: str  # the side that forfeits
    reason: str


@dataclass(frozen=True)
class Cancelled:
    reason: str


@dataclass(frozen=True)
class Ignored:
    """A message the machine refused (wrong author, wrong phase, other battle)."""

    envelope: SignedEnvelope
    reason: str


@dataclass(frozen=True)
class TallyNow:
    """Reveal window closed (or every member revealed), or a forfeit is proven: build and publish the
    result bundle."""

    messages: tuple[SignedEnvelope, ...]


@dataclass(frozen=True)
class Finished:
    result: BattleResult


@dataclass(frozen=True)
class SignRoster:
    """``join_by`` passed: a DJ signs a ``battle_roster`` from these viewers (every join it holds, earliest
    first); which of them, at most ``MAX_ROSTER``, is the DJ's choice (``BattleService.roster_policy``)."""

    members: tuple[bytes, ...]


@dataclass(frozen=True)
class RevealSeed:
    """Both rosters are here: a DJ opens its seed commitment in a ``battle_seed`` naming them (A's, B's)."""

    rosters: tuple[bytes, bytes]


@dataclass(frozen=True)
class BindTaker:
    """An open challenge's first valid taker: DJ A's node signs a ``battle_bind`` carrying ``accept``."""

    accept: SignedEnvelope


@dataclass(frozen=True)
class AttestAbsent:
    """A set never came: a committee member signs a ``battle_absent`` for ``side``."""

    side: str
    committee: tuple[bytes, ...]


BattleEvent = Tick | Received
Action = (
    PhaseChanged
    | SetOpened
    | SetClosed
    | JudgeNow
    | RevealNow
    | Forfeited
    | Cancelled
    | Ignored
    | TallyNow
    | Finished
    | SignRoster
    | RevealSeed
    | AttestAbsent
    | BindTaker
)

#: bounds on what a peer can make a machine hold
MAX_JOINS = 1024
MAX_PER_DJ = 4  # rosters, seeds, withdrawals per DJ
MAX_PER_MEMBER = 4  # commits, reveals, stray verdicts, absences per committee member


@dataclass
class BattleMachine:
    """One battle as every node sees it; feed ``handle(event, now_ms)``, act on what it returns.

    It records the battle's messages (the evidence a result bundle carries), enforces who
    may say what and when (``consensus.window_error``), and announces each step. Judging
    and signing stay outside.
    """

    announce: SignedEnvelope
    phase: Phase = Phase.ANNOUNCED
    accept: SignedEnvelope | None = None  # in an open challenge, the one DJ A's bind carries
    bind: SignedEnvelope | None = None  # DJ A's battle_bind (open challenges only)
    #: an open challenge's takers while unbound (first come, one per DJ, at most MAX_TAKERS)
    takers: list[SignedEnvelope] = field(default_factory=list)
    joins: dict[bytes, SignedEnvelope] = field(default_factory=dict)
    rosters: list[SignedEnvelope] = field(default_factory=list)
    seeds: list[SignedEnvelope] = field(default_factory=list)
    tracklists: dict[str, SignedEnvelope] = field(default_factory=dict)
    commits: list[SignedEnvelope] = field(default_factory=list)
    reveals: list[SignedEnvelope] = field(default_factory=list)
    stray_verdicts: list[SignedEnvelope] = field(default_factory=list)  # evidence of double signing
    withdrawals: list[SignedEnvelope] = field(default_factory=list)
    absences: list[SignedEnvelope] = field(default_factory=list)
    result: BattleResult | None = None
    _opened: set[str] = field(default_factory=set)
    _closed: set[str] = field(default_factory=set)
    _tallied: bool = False
    _roster_asked: bool = False
    _seed_asked: bool = False
    _absent_asked: bool = False
    _bind_asked: bool = False
    _double_bind: bool = False
    _committee: tuple[bytes, ...] | None = None
    #: checks a result bundle (``consensus.verify_bundle_envelope`` by default); a node passes one that
    #: remembers each bundle's outcome, as its validator and ratings check the same bundles
    verify_bundle: Callable[[SignedEnvelope], Result] | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.announce.message, BattleAnnounce):
            raise ValueError("a battle starts from a battle_announce envelope")

    @property
    def battle_id(self) -> bytes:
        return self.announce.content_id

    @property
    def spec(self) -> BattleAnnounce:
        message = self.announce.message
        assert isinstance(message, BattleAnnounce)
        return message

    @property
    def djs(self) -> dict[str, bytes]:
        """Side -> DJ key; an open challenge's DJ B is b"" until DJ A's bind names it."""
        return battle_djs(self.announce, self.accept)

    def draw_problem(self) -> str | None:
        """Why the messages held fix no committee yet (None once they do)."""
        from djmesh.protocol.committee import DrawError, draw_committee

        try:
            draw_committee(self.announce, self.accept, self.rosters, self.seeds, self.joins.values())
        except DrawError as exc:
            return str(exc)
        return None

    def committee(self) -> tuple[bytes, ...]:
        """The members drawn from both DJs' rosters (``protocol/committee.py``); empty until drawn.

        Fixed once the roster window closed: later messages cannot change it.
        """
        if self._committee is not None:
            return self._committee
        from djmesh.protocol.committee import DrawError, draw_committee

        try:
            draw = draw_committee(self.announce, self.accept, self.rosters, self.seeds, self.joins.values())
        except DrawError:
            return ()
        self._committee = draw.committee
        return draw.committee

    def reveals_open_at(self) -> int:
        """The first ms a member may sign its reveal: once all committed, else just after ``commit_by``."""
        from djmesh.protocol.consensus import reveals_open_at

        return reveals_open_at(self.commits, self.committee(), self.spec.commit_by)

    def evidence(self) -> tuple[SignedEnvelope, ...]:
        """The envelopes a result bundle carries, in a canonical order."""
        out = [self.announce]
        if self.accept is not None:
            out.append(self.accept)
        if self.bind is not None:
            out.append(self.bind)
        for group in (
            list(self.joins.values()),
            self.rosters,
            self.seeds,
            [self.tracklists[s] for s in SIDES if s in self.tracklists],
            self.commits,
            self.reveals,
            self.stray_verdicts,
            self.withdrawals,
            self.absences,
        ):
            out += sorted(group, key=lambda e: e.content_id)
        return tuple(out)

    def handle(self, event: BattleEvent, now_ms: int) -> list[Action]:
        actions: list[Action] = []
        if isinstance(event, Received):
            actions += self._receive(event.envelope, now_ms)
        actions += self._advance(now_ms)
        return actions

    def _set_phase(self, phase: Phase, actions: list[Action]) -> None:
        if phase != self.phase:
            self.phase = phase
            actions.append(PhaseChanged(phase))

    @staticmethod
    def _keep(bucket: list[SignedEnvelope], envelope: SignedEnvelope, limit: int) -> list[Action]:
        """Add ``envelope`` unless held already or its author has ``limit`` in ``bucket``."""
        if any(e.content_id == envelope.content_id for e in bucket):
            return []
        if sum(1 for e in bucket if e.author == envelope.author) >= limit:
            return [Ignored(envelope, f"too many {envelope.kind} from one author")]
        bucket.append(envelope)
        return []

    # -- messages --
    def _receive(self, envelope: SignedEnvelope, now_ms: int) -> list[Action]:
        from djmesh.protocol.consensus import window_error

        message = envelope.message
        if not isinstance(message, BattleMessage) or message.battle != self.battle_id:
            return [Ignored(envelope, "not a message of this battle")]
        spec = self.spec
        if isinstance(message, BattleAttestation):
            return []  # the escrow's business (node/battle/escrow.py), not the result's evidence
        if isinstance(message, BattleResult):
            return self._receive_result(envelope, message, now_ms)
        if self.phase in (Phase.DONE, Phase.CANCELLED):
            return [Ignored(envelope, f"battle is {self.phase.value}")]
        if isinstance(message, BattleBind) or (
            spec.is_open and self.bind is None and isinstance(message, BattleAccept)
        ):
            return self._receive_open(envelope, now_ms)
        problem = window_error(envelope, spec, self.djs)
        if problem is not None:
            return [Ignored(envelope, problem)]
        if isinstance(message, BattleAccept):
            if now_ms > spec.accept_by + ARRIVAL_GRACE_MS:
                return [Ignored(envelope, "accepted after the deadline")]
            self.accept = self.accept or envelope
            return []
        if isinstance(message, BattleJoin):
            if self._committee is not None or now_ms > spec.roster_by + ROSTER_GRACE_MS:
                return [Ignored(envelope, "joined after the deadline")]
            if len(self.joins) >= MAX_JOINS and envelope.author not in self.joins:
                return [Ignored(envelope, "too many joins")]
            self.joins.setdefault(envelope.author, envelope)
            return []
        if isinstance(message, BattleRoster | BattleSeed):
            if now_ms > spec.roster_by + ROSTER_GRACE_MS or self._committee is not None:
                return [Ignored(envelope, f"{envelope.kind} after the committee was fixed")]
            return self._keep(
                self.rosters if isinstance(message, BattleRoster) else self.seeds, envelope, MAX_PER_DJ
            )
        if isinstance(message, BattleWithdraw):
            return self._keep(self.withdrawals, envelope, MAX_PER_DJ)
        if isinstance(message, Tracklist):
            side = next(s for s, k in self.djs.items() if k == envelope.author)
            end = spec.set_window(side)[1]
            if now_ms > end + ARRIVAL_GRACE_MS:
                return [Ignored(envelope, "tracklist after the set ended")]
            if side in self.tracklists:
                return [Ignored(envelope, "tracklist already declared")]
            self.tracklists[side] = envelope
            return []
        committee = self.committee()
        if envelope.author not in committee:
            return [Ignored(envelope, f"{envelope.kind} from someone not on the committee")]
        if isinstance(message, BattleAbsent):
            return self._keep(self.absences, envelope, MAX_PER_MEMBER)
        if isinstance(message, VerdictCommit):
            return self._keep(self.commits, envelope, MAX_PER_MEMBER)  # late ones are the tally's to judge
        if isinstance(message, VerdictReveal):
            return self._keep(self.reveals, envelope, MAX_PER_MEMBER)
        if isinstance(message, Verdict):
            # verdicts travel inside reveals; one seen on its own is kept as evidence of double signing
            return self._keep(self.stray_verdicts, envelope, MAX_PER_MEMBER)
        return [Ignored(envelope, f"unexpected {envelope.kind}")]

    def _receive_open(self, envelope: SignedEnvelope, now_ms: int) -> list[Action]:
        """An open challenge's takes and DJ A's bind (docs/PROTOCOL.md, Open challenges).

        A take (an accept before the bind) counts for nothing but a place in DJ A's queue: the first
        one asks DJ A's node to bind it. The bind fixes DJ B; a second bind naming another taker
        cancels the battle (DJ A equivocated), and an accept after the bind counts only if it is DJ B's.
        """
        spec = self.spec
        if now_ms > spec.accept_by + ARRIVAL_GRACE_MS:
            return [Ignored(envelope, f"{envelope.kind} after the deadline")]
        if isinstance(envelope.message, BattleAccept):
            if envelope.author == self.announce.author:
                return [Ignored(envelope, "the challenger cannot take its own open challenge")]
            if envelope.created_at_ms > spec.accept_by:
                return [Ignored(envelope, "battle_accept signed after accept_by")]
            if any(t.author == envelope.author for t in self.takers):
                return []  # one place per taker: its first accept
            if len(self.takers) >= MAX_TAKERS:
                return [Ignored(envelope, f"{MAX_TAKERS} takers already wait for the challenger's bind")]
            self.takers.append(envelope)
            if self._bind_asked:
                return []
            self._bind_asked = True
            return [BindTaker(envelope)]
        try:
            accept = bound_accept(envelope, self.announce)
        except InvalidPayloadError as exc:
            return [Ignored(envelope, str(exc))]
        if self.bind is None:
            self.bind, self.accept = envelope, accept
            self.joins.pop(
                accept.author, None
            )  # DJ B may have joined as a viewer first: it judges no battle of its own
            return []
        if self.accept is not None and accept.content_id != self.accept.content_id:
            self._double_bind = True
            return [Ignored(envelope, "the challenger bound a second taker")]
        return []

    def _receive_result(self, envelope: SignedEnvelope, message: BattleResult, now_ms: int) -> list[Action]:
        """Take a published result only when its time has come and it rests on this battle's committee."""
        from djmesh.protocol.consensus import verify_bundle_envelope

        try:
            verified = (self.verify_bundle or verify_bundle_envelope)(envelope)
        except Exception as exc:  # any refusal: record why, never crash
            return [Ignored(envelope, f"result does not verify: {exc}")]
        if verified.battle_id != self.battle_id:
            return [Ignored(envelope, "result of another battle")]
        spec = self.spec
        if verified.forfeit is None:
            if self.phase not in (Phase.COMMIT, Phase.REVEAL, Phase.DONE) or now_ms < self.reveals_open_at():
                return [
                    Ignored(
                        envelope,
                        "result before its time: a judged result stands only once the commits are closed "
                        f"(reveals open at {self.reveals_open_at()})",
                    )
                ]
            if self.committee() and verified.committee != self.committee():
                return [Ignored(envelope, "result rests on another committee than this battle's draw")]
        elif verified.forfeit_how == "absent" and now_ms < spec.set_window(verified.forfeit)[1]:
            return [Ignored(envelope, "result before its time: the absent set's window is still open")]
        if self.result is None:
            self.result = message
            actions: list[Action] = [Finished(message)]
            self._set_phase(Phase.DONE, actions)
            return actions
        return []

    # -- deadlines --
    def _advance(self, now_ms: int) -> list[Action]:
        actions: list[Action] = []
        spec = self.spec
        if self.phase in (Phase.DONE, Phase.CANCELLED):
            return actions
        if self._double_bind:
            self._set_phase(Phase.CANCELLED, actions)
            actions.append(Cancelled("the challenger bound two different takers to its open challenge"))
            return actions
        if self.phase == Phase.ANNOUNCED:
            if self.accept is not None:
                self._set_phase(Phase.ACCEPTED, actions)
            elif now_ms > spec.accept_by + ARRIVAL_GRACE_MS:
                self._set_phase(Phase.CANCELLED, actions)
                actions.append(Cancelled("not accepted in time"))
                return actions
        if self.phase == Phase.ANNOUNCED:
            return actions
        if self._withdrawn(actions):
            return actions
        if self._draw_steps(now_ms, actions):
            return actions
        if self.phase in (Phase.ACCEPTED, Phase.SETS):
            for side in SIDES:
                start, end = spec.set_window(side)
                if now_ms >= start and side not in self._opened:
                    self._set_phase(Phase.SETS, actions)
                    self._opened.add(side)
                    tl = self.tracklists.get(side)
                    actions.append(
                        SetOpened(side, tl.message if tl and isinstance(tl.message, Tracklist) else None)
                    )
                if now_ms >= end and side in self._opened and side not in self._closed:
                    self._closed.add(side)
                    actions.append(SetClosed(side))
            if self._closed == set(SIDES):
                missing = [s for s in SIDES if s not in self.tracklists]
                if len(missing) == 2:
                    self._set_phase(Phase.CANCELLED, actions)
                    actions.append(Cancelled("neither DJ declared a tracklist"))
                    return actions
                self._set_phase(Phase.COMMIT, actions)
                if missing:
                    self._absent_asked = True
                    actions.append(AttestAbsent(missing[0], self.committee()))
                else:
                    actions.append(JudgeNow(self.committee()))
        if self._absent_asked:
            self._absence_proven(actions)
            return actions
        if self.phase == Phase.COMMIT and now_ms >= self.reveals_open_at():
            # every verdict is bound: a reveal now gives nobody a choice (docs/PROTOCOL.md, Battles)
            self._set_phase(Phase.REVEAL, actions)
            actions.append(RevealNow())
        if self.phase == Phase.REVEAL:
            committee = set(self.committee())
            revealed = {r.author for r in self.reveals if r.author in committee}
            if not self._tallied and (now_ms > spec.reveal_by or revealed == committee):
                # once; the phase stays REVEAL until a verified result arrives (ours or anyone's)
                self._tallied = True
                actions.append(TallyNow(self.evidence()))
        return actions

    def _draw_steps(self, now_ms: int, actions: list[Action]) -> bool:
        """Ask the DJs for their rosters and seeds; cancel (True) when no committee is fixed in time."""
        spec = self.spec
        if self._committee is not None:
            return False
        if not self._roster_asked and now_ms >= spec.join_by:
            self._roster_asked = True
            held = sorted(self.joins.values(), key=lambda e: (e.created_at_ms, e.author))
            actions.append(SignRoster(tuple(e.author for e in held)))
        if not self._seed_asked:
            firsts = [next((r for r in self.rosters if r.author == self.djs[s]), None) for s in SIDES]
            if firsts[0] is not None and firsts[1] is not None:
                self._seed_asked = True
                actions.append(RevealSeed((firsts[0].content_id, firsts[1].content_id)))
        if self.committee() or now_ms <= spec.roster_by + ROSTER_GRACE_MS:
            return False
        self._set_phase(Phase.CANCELLED, actions)
        actions.append(Cancelled(f"no committee: {self.draw_problem()}"))
        return True

    def _withdrawn(self, actions: list[Action]) -> bool:
        if not self.withdrawals:
            return False
        sides = sorted({s for s, k in self.djs.items() for w in self.withdrawals if w.author == k})
        if len(sides) == 2:
            self._set_phase(Phase.CANCELLED, actions)
            actions.append(Cancelled("both DJs withdrew"))
            return True
        self._forfeit(sides[0], "withdrew", actions)
        return True

    def _absence_proven(self, actions: list[Action]) -> None:
        committee = self.committee()
        quorum = 2 * ((len(committee) - 1) // 3) + 1
        for side in SIDES:
            said = {
                a.author
                for a in self.absences
                if isinstance(a.message, BattleAbsent) and a.message.side == side
            }
            if committee and len(said) >= quorum:
                self._forfeit(side, "absent: 2f+1 members never got the set", actions)
                return

    def _forfeit(self, loser: str, reason: str, actions: list[Action]) -> None:
        actions.append(Forfeited(loser, reason))
        self.result = BattleResult(
            battle=self.battle_id,
            messages=tuple(e.wire for e in self.evidence()),
            winner="b" if loser == "a" else "a",
            scores=None,
            forfeit=loser,
        )
        actions.append(TallyNow(self.evidence()))
        actions.append(Finished(self.result))
        self._set_phase(Phase.DONE, actions)
