"""The judging committee and how its verdicts become one result anyone can check offline.

- Committee: drawn from the viewers both DJs' signed rosters name, with a seed both DJs committed to
  before anyone joined and revealed after the rosters were fixed (``protocol/committee.py``).
- Commit, then reveal: a member signs a ``battle_verdict`` envelope but publishes only
  SHA-256(context || verdict envelope || salt); once every member has committed (or after
  the commit deadline) it reveals the envelope and salt. Nobody can copy a verdict they have
  not seen, nor change theirs (``reveals_open_at``; the argument is in docs/PROTOCOL.md).
- Tally: once at least 2f+1 of the 3f+1 members revealed valid verdicts, each score is
  the median over them (the lower median for an even count: integers, no rounding).
  Offences are recorded against their authors: outliers, reveals that do not open their
  commit, late commits/reveals, reveals signed before every member had committed and
  before the commit deadline (others could copy them), two different verdicts or commits
  (double signing), a verdict for another model, and members who never revealed.
- Forfeits need evidence: the absent DJ's own ``battle_withdraw``, or 2f+1 members'
  ``battle_absent`` for that side.
- Result bundle: a ``battle_result`` envelope holding every message the result rests on;
  ``verify_result`` recomputes committee, quorum, medians and offences from them and
  refuses the bundle unless everything matches and every message lies in its window.
- Result hash: SHA-256 over what the result says (battle, roster, committee, counted verdicts,
  scores, winner, offences; or the forfeit), not over the bundle's bytes: two bundles with the same
  evidence have one hash whoever signed them and however they are ordered. Ratings, escrow
  attestations and ``djmesh verify`` use it.
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field

import nacl.signing

from djmesh.protocol.battle import (
    SIDES,
    VERDICT_KEYS,
    BattleAbsent,
    BattleAccept,
    BattleAnnounce,
    BattleBind,
    BattleJoin,
    BattleMessage,
    BattleResult,
    BattleRoster,
    BattleSeed,
    BattleWithdraw,
    Tracklist,
    Verdict,
    VerdictCommit,
    VerdictReveal,
    battle_djs,
    bound_accept,
    centi_points,
    scores_payload,
    winner_of,
)
from djmesh.protocol.cbor import CborKey, CborValue, encode
from djmesh.protocol.committee import Draw, DrawError, draw_committee, rank_committee
from djmesh.protocol.envelope import EnvelopeCache, SignedEnvelope, decode_envelope, sign
from djmesh.protocol.errors import InvalidPayloadError, MalformedMessageError, ProtocolError
from djmesh.protocol.peer_id import peer_id_from_public_key

COMMIT_CONTEXT = b"djmesh/verdict-commit/v1\x00"
RESULT_CONTEXT = b"djmesh/result/v1\x00"
#: a verdict whose totals sit further than this (centi-points, summed over both DJs) from the
#: median, or any criterion further than OUTLIER_CRITERION_CENTI, or that names the other
#: winner, is an outlier
OUTLIER_CENTI = 150
OUTLIER_CRITERION_CENTI = 300
#: offences that burn a member's seat bond (escrow battles): what a member chose to do, or did not do,
#: that costs the quorum or copies others. Not ``outlier`` (the medians already outvote it, and an honest
#: member whose stream arrived damaged would be punished), not ``late_*`` (a slow link, not a choice) and
#: not ``wrong_model``.
FORFEITING_OFFENCES = frozenset({"no_reveal", "double_sign", "bad_reveal", "early_reveal"})


class InvalidResultError(ProtocolError):
    """A result bundle that does not prove what it claims."""


class QuorumError(ProtocolError):
    """Fewer than 2f+1 valid verdicts: no result yet."""


# ---- committee ----------------------------------------------------------------------------------


def select_committee(
    seed: bytes, djs: Iterable[bytes], candidates: Iterable[bytes], size: int
) -> tuple[bytes, ...]:
    """The first ``size`` candidates (DJs excluded) by SHA-256(seed || key) (``committee.rank_committee``)."""
    return rank_committee(seed, djs, candidates, size)


def faults_tolerated(committee_size: int) -> int:
    return (committee_size - 1) // 3


# ---- commit / reveal (member side) ---------------------------------------------------------------


def commitment(verdict_wire: bytes, salt: bytes) -> bytes:
    return hashlib.sha256(COMMIT_CONTEXT + verdict_wire + salt).digest()


@dataclass(frozen=True)
class SealedVerdict:
    """What a member keeps between commit and reveal."""

    verdict: SignedEnvelope
    salt: bytes

    def commit(self, key: nacl.signing.SigningKey, *, created_at_ms: int) -> SignedEnvelope:
        message = VerdictCommit(battle=self._battle, commitment=commitment(self.verdict.wire, self.salt))
        return sign(message, key, created_at_ms=created_at_ms)

    def reveal(self, key: nacl.signing.SigningKey, *, created_at_ms: int) -> SignedEnvelope:
        message = VerdictReveal(battle=self._battle, verdict=self.verdict.wire, salt=self.salt)
        return sign(message, key, created_at_ms=created_at_ms)

    @property
    def _battle(self) -> bytes:
        assert isinstance(self.verdict.message, Verdict)
        return self.verdict.message.battle


def seal_verdict(
    key: nacl.signing.SigningKey,
    battle_id: bytes,
    model: bytes,
    scores: dict[str, dict[str, int]],
    *,
    created_at_ms: int,
    salt: bytes,
) -> SealedVerdict:
    """Sign a verdict (not published yet) and pair it with a fresh 32-byte salt."""
    if len(salt) != 32:
        raise ValueError("salt must be 32 random bytes")
    verdict = Verdict(battle=battle_id, model=model, scores=scores, winner=winner_of(scores))
    return SealedVerdict(sign(verdict, key, created_at_ms=created_at_ms), salt)


def scores_from_judge(values: dict[str, dict[str, float]]) -> dict[str, dict[str, int]]:
    """The judge's 0..10 floats as the centi-point integers a verdict carries."""
    return {side: {key: centi_points(values[side][key]) for key in VERDICT_KEYS} for side in SIDES}


# ---- when reveals open ---------------------------------------------------------------------------


def commitments_closed_at(
    commits: Iterable[SignedEnvelope], committee: Collection[bytes], commit_by: int
) -> int | None:
    """When the last member's first timely commit was signed, or None while a member has none.

    From then on every member's verdict is bound, so reveals may start; a commit signed later
    is a member's second and counts as late. Timely: signed by ``commit_by``.
    """
    first: dict[bytes, int] = {}
    for c in commits:
        if c.author in committee and isinstance(c.message, VerdictCommit) and c.created_at_ms <= commit_by:
            first[c.author] = min(first.get(c.author, c.created_at_ms), c.created_at_ms)
    if not committee or len(first) < len(set(committee)):
        return None
    return max(first.values())


def reveals_open_at(commits: Iterable[SignedEnvelope], committee: Collection[bytes], commit_by: int) -> int:
    """The first ms a reveal may be signed: once every member committed, at the latest ``commit_by + 1``."""
    closed = commitments_closed_at(commits, committee, commit_by)
    return commit_by + 1 if closed is None else closed


# ---- tally ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Offence:
    peer: bytes
    kind: str

    def as_json(self) -> dict[str, str]:
        return {"peer": peer_id_from_public_key(self.peer), "kind": self.kind}


@dataclass(frozen=True)
class Tally:
    battle_id: bytes
    committee: tuple[bytes, ...]
    quorum: int
    verdicts: dict[bytes, Verdict]  # valid, counted verdicts by member
    scores: dict[str, dict[str, int]]
    winner: str
    offences: tuple[Offence, ...]
    roster: tuple[bytes, ...] = ()
    verdict_ids: dict[bytes, bytes] = field(default_factory=dict)  # counted member -> verdict content ID

    @property
    def result_hash(self) -> bytes:
        return judged_result_hash(self)

    @property
    def honest(self) -> frozenset[bytes]:
        flagged = {o.peer for o in self.offences}
        return frozenset(m for m in self.committee if m not in flagged)


def _median(values: Sequence[int]) -> int:
    s = sorted(values)
    return s[(len(s) - 1) // 2]


@dataclass
class _Sorted:
    announce: SignedEnvelope
    accept: SignedEnvelope | None = None
    bind: SignedEnvelope | None = None  # DJ A's battle_bind of an open challenge
    joins: list[SignedEnvelope] = field(default_factory=list)
    rosters: list[SignedEnvelope] = field(default_factory=list)
    seeds: list[SignedEnvelope] = field(default_factory=list)
    tracklists: list[SignedEnvelope] = field(default_factory=list)
    commits: list[SignedEnvelope] = field(default_factory=list)
    reveals: list[SignedEnvelope] = field(default_factory=list)
    verdicts: list[SignedEnvelope] = field(default_factory=list)  # evidence of double signing
    withdrawals: list[SignedEnvelope] = field(default_factory=list)
    absences: list[SignedEnvelope] = field(default_factory=list)


_BUCKETS: tuple[tuple[type[BattleMessage], str], ...] = (
    (BattleJoin, "joins"),
    (BattleRoster, "rosters"),
    (BattleSeed, "seeds"),
    (Tracklist, "tracklists"),
    (VerdictCommit, "commits"),
    (VerdictReveal, "reveals"),
    (Verdict, "verdicts"),
    (BattleWithdraw, "withdrawals"),
    (BattleAbsent, "absences"),
)


def _sort(envelopes: Iterable[SignedEnvelope]) -> _Sorted:
    items = list({e.content_id: e for e in envelopes}.values())  # a duplicate says nothing new
    announces = [e for e in items if isinstance(e.message, BattleAnnounce)]
    if len(announces) != 1:
        raise InvalidResultError("a bundle holds exactly one battle_announce")
    out = _Sorted(announces[0])
    battle_id = out.announce.content_id
    for e in items:
        m = e.message
        if isinstance(m, BattleAnnounce):
            continue
        if not isinstance(m, BattleMessage) or m.battle != battle_id:
            raise InvalidResultError(f"{e.kind} of another battle in the bundle")
        if isinstance(m, BattleAccept):
            out.accept = e
            continue
        if isinstance(m, BattleBind):
            if out.bind is not None:
                raise InvalidResultError("a bundle holds at most one battle_bind")
            out.bind = e
            continue
        bucket = next((name for kind, name in _BUCKETS if isinstance(m, kind)), None)
        if bucket is None:
            raise InvalidResultError(f"{e.kind} does not belong in a result bundle")
        getattr(out, bucket).append(e)
    return out


def window_error(envelope: SignedEnvelope, spec: BattleAnnounce, dj: dict[str, bytes]) -> str | None:
    """Why a battle message lies outside the window its rules give it (None: inside).

    The battle machine refuses such messages on receipt and the verifier refuses bundles holding
    one, so a message that breaks its window can neither count nor spoil an honest bundle.
    """
    m, t = envelope.message, envelope.created_at_ms
    side = next((x for x, k in dj.items() if k == envelope.author), None)
    if isinstance(m, BattleAccept):
        if envelope.author != dj["b"]:
            return "battle_accept not signed by the challenged DJ"
        return "battle_accept signed after accept_by" if t > spec.accept_by else None
    if isinstance(m, BattleJoin):
        if side is not None:
            return "a DJ cannot judge their own battle"
        return "battle_join signed after join_by" if t > spec.join_by else None
    if isinstance(m, BattleRoster | BattleSeed):
        if side is None:
            return f"{envelope.kind} not signed by a DJ of this battle"
        if not spec.join_by <= t <= spec.roster_by:
            return f"{envelope.kind} signed outside [join_by, roster_by]"
        return None
    if isinstance(m, Tracklist):
        if side is None:
            return "battle_tracklist not signed by a DJ of this battle"
        start, end = spec.set_window(side)
        return "battle_tracklist signed outside its set window" if not start <= t <= end else None
    if isinstance(m, BattleWithdraw):
        if side is None:
            return "battle_withdraw not signed by a DJ of this battle"
        return "battle_withdraw signed after its set ended" if t > spec.set_window(side)[1] else None
    if isinstance(m, BattleAbsent):
        if not spec.set_window(m.side)[1] <= t <= spec.commit_by:
            return "battle_absent signed outside [that set's end, commit_by]"
        return None
    if isinstance(m, VerdictCommit | VerdictReveal) and t < spec.sets_end:
        return f"{envelope.kind} signed before the sets ended"
    return None


def _check_basics(s: _Sorted) -> BattleAnnounce:
    spec = s.announce.message
    assert isinstance(spec, BattleAnnounce)
    if spec.is_open:
        if s.bind is None:
            raise InvalidResultError("an open challenge's bundle carries the challenger's battle_bind")
        try:
            bound = bound_accept(s.bind, s.announce)
        except InvalidPayloadError as exc:
            raise InvalidResultError(str(exc)) from exc
        if s.accept is None or s.accept.content_id != bound.content_id:
            raise InvalidResultError("the bundle's battle_accept is not the one the challenger bound")
    elif s.bind is not None:
        raise InvalidResultError("battle_bind in a battle that names its opponent")
    dj = battle_djs(s.announce, s.accept)
    if s.accept is None or s.accept.author != dj["b"]:
        raise InvalidResultError("the battle was not accepted by the challenged DJ")
    for e in [s.accept, *(e for _, name in _BUCKETS for e in getattr(s, name))]:
        problem = window_error(e, spec, dj)
        if problem is not None:
            raise InvalidResultError(problem)
    return spec


def _draw(s: _Sorted) -> Draw:
    try:
        return draw_committee(s.announce, s.accept, s.rosters, s.seeds, s.joins)
    except DrawError as exc:
        raise InvalidResultError(f"no committee: {exc}") from exc


def _forfeit(s: _Sorted, spec: BattleAnnounce, committee: tuple[bytes, ...]) -> tuple[str, str] | None:
    """(side, how) when the messages prove a forfeit: ``withdrew`` or ``absent``; None otherwise."""
    dj = battle_djs(s.announce, s.accept)
    withdrew = sorted({x for x, k in dj.items() for w in s.withdrawals if w.author == k})
    if len(withdrew) == 2:
        raise InvalidResultError("both DJs withdrew: the battle has no result")
    if withdrew:
        return withdrew[0], "withdrew"
    members = set(committee)
    quorum = 2 * faults_tolerated(len(committee)) + 1
    absent = []
    for side in SIDES:
        said = {
            a.author for a in s.absences if a.author in members and isinstance(a.message, BattleAbsent)
            and a.message.side == side
        }  # fmt: skip
        if committee and len(said) >= quorum:
            absent.append(side)
    if len(absent) == 2:
        raise InvalidResultError("2f+1 members say neither set came: the battle has no result")
    return (absent[0], "absent") if absent else None


def tally(envelopes: Iterable[SignedEnvelope], *, cache: EnvelopeCache | None = None) -> Tally:
    """The result of a battle from its messages (order does not matter), or ``QuorumError``.

    ``cache``: verdicts inside reveals verified before (another bundle of the battle carried them)
    are not verified again."""
    s = _sort(envelopes)
    spec = _check_basics(s)
    battle_id = s.announce.content_id
    draw = _draw(s)
    committee = draw.committee
    members = set(committee)
    n = len(committee)
    quorum = 2 * faults_tolerated(n) + 1 if n else 1
    offences: dict[tuple[bytes, str], None] = {}

    def offend(peer: bytes, kind: str) -> None:
        offences.setdefault((peer, kind), None)

    closed = commitments_closed_at(s.commits, members, spec.commit_by)
    last_commit = spec.commit_by if closed is None else closed
    reveals_open = reveals_open_at(s.commits, members, spec.commit_by)
    commits: dict[bytes, set[bytes]] = {}
    for c in s.commits:
        if c.author not in members:
            continue
        assert isinstance(c.message, VerdictCommit)
        if c.created_at_ms > last_commit:  # after the deadline, or a second commit once all were bound
            offend(c.author, "late_commit")
            continue
        commits.setdefault(c.author, set()).add(c.message.commitment)
    for member, values in commits.items():
        if len(values) > 1:
            offend(member, "double_sign")

    # every verdict a member signed for this battle, from reveals and from evidence
    signed: dict[bytes, set[bytes]] = {}
    opened: dict[bytes, Verdict] = {}
    verdict_ids: dict[bytes, bytes] = {}
    for r in sorted(s.reveals, key=lambda e: (e.created_at_ms, e.content_id)):
        if r.author not in members:
            continue
        assert isinstance(r.message, VerdictReveal)
        try:
            ve = decode_envelope(r.message.verdict, now_ms=None, cache=cache)
        except ProtocolError:
            offend(r.author, "bad_reveal")
            continue
        if not isinstance(ve.message, Verdict) or ve.author != r.author or ve.message.battle != battle_id:
            offend(r.author, "bad_reveal")
            continue
        signed.setdefault(r.author, set()).add(ve.content_id)
        if r.created_at_ms > spec.reveal_by:
            offend(r.author, "late_reveal")
            continue
        if r.created_at_ms < reveals_open:  # before every member was bound: others could copy it
            offend(r.author, "early_reveal")
            continue
        if commitment(r.message.verdict, r.message.salt) not in commits.get(r.author, set()):
            offend(r.author, "bad_reveal")
            continue
        if ve.message.model != spec.rules.model:
            offend(r.author, "wrong_model")
            continue
        if r.author not in opened:
            opened[r.author] = ve.message
            verdict_ids[r.author] = ve.content_id
    for v in s.verdicts:
        assert isinstance(v.message, Verdict)
        if v.author in members:
            signed.setdefault(v.author, set()).add(v.content_id)
    for member, ids in signed.items():
        if len(ids) > 1:
            offend(member, "double_sign")
    flagged_double = {p for p, k in offences if k == "double_sign"}
    counted = {m: v for m, v in opened.items() if m not in flagged_double}
    for member in committee:
        if member not in opened and member not in flagged_double:
            offend(member, "no_reveal")
    if len(counted) < quorum:
        raise QuorumError(f"{len(counted)} valid verdicts of {n}; {quorum} needed")
    ordered = [counted[m] for m in committee if m in counted]
    scores = {
        side: {key: _median([v.scores[side][key] for v in ordered]) for key in VERDICT_KEYS} for side in SIDES
    }
    winner = winner_of(scores)
    for member in committee:
        verdict = counted.get(member)
        if verdict is None:
            continue
        distance = sum(abs(verdict.scores[side]["total"] - scores[side]["total"]) for side in SIDES)
        worst = max(abs(verdict.scores[side][k] - scores[side][k]) for side in SIDES for k in VERDICT_KEYS)
        if distance > OUTLIER_CENTI or worst > OUTLIER_CRITERION_CENTI or verdict.winner != winner:
            offend(member, "outlier")
    rank = {m: i for i, m in enumerate(committee)}
    ordered_offences = sorted(offences, key=lambda o: (rank.get(o[0], n), o[1]))
    return Tally(
        battle_id,
        committee,
        quorum,
        counted,
        scores,
        winner,
        tuple(Offence(p, k) for p, k in ordered_offences),
        draw.roster,
        {m: verdict_ids[m] for m in counted},
    )


# ---- the canonical result hash -------------------------------------------------------------------


def _hash(payload: dict[CborKey, CborValue]) -> bytes:
    return hashlib.sha256(RESULT_CONTEXT + encode(payload)).digest()


def judged_result_hash(t: Tally) -> bytes:
    """SHA-256 over what a judged result says: nothing a publisher picks (signer, time, order) enters it."""
    return _hash(
        {
            "battle": t.battle_id,
            "roster": list(t.roster),
            "committee": list(t.committee),
            "verdicts": [[m, t.verdict_ids[m]] for m in sorted(t.verdict_ids)],
            "scores": scores_payload(t.scores),
            "winner": t.winner,
            "offences": [[o.peer, o.kind] for o in t.offences],
        }
    )


def forfeit_result_hash(battle_id: bytes, side: str) -> bytes:
    """A forfeit says only who forfeits: every bundle proving it has this one hash."""
    return _hash({"battle": battle_id, "forfeit": side})


# ---- result bundles ------------------------------------------------------------------------------


def _forfeit_of_messages(items: list[SignedEnvelope]) -> tuple[str, str] | None:
    s = _sort(items)
    spec = _check_basics(s)
    committee: tuple[bytes, ...] = ()
    try:
        committee = draw_committee(s.announce, s.accept, s.rosters, s.seeds, s.joins).committee
    except DrawError as exc:
        if not s.withdrawals:
            raise InvalidResultError(f"no committee: {exc}") from exc
    return _forfeit(s, spec, committee)


def build_result(
    envelopes: Iterable[SignedEnvelope], extra_evidence: Iterable[SignedEnvelope] = ()
) -> BattleResult:
    """The unsigned ``battle_result`` for ``envelopes``: a proven forfeit, else the tally."""
    items = list(envelopes) + list(extra_evidence)
    unique = {e.content_id: e for e in items}
    messages = tuple(unique[k].wire for k in sorted(unique))
    forfeit = _forfeit_of_messages(items)
    if forfeit is not None:
        side = forfeit[0]
        battle_id = next(e.content_id for e in items if isinstance(e.message, BattleAnnounce))
        winner = "b" if side == "a" else "a"
        return BattleResult(battle=battle_id, messages=messages, winner=winner, scores=None, forfeit=side)
    t = tally(items)
    return BattleResult(
        battle=t.battle_id,
        messages=messages,
        winner=t.winner,
        scores=t.scores,
        offences=tuple((o.peer, o.kind) for o in t.offences),
    )


@dataclass(frozen=True)
class Result:
    """A verified result: what ``djmesh verify`` prints and ratings are computed from."""

    battle_id: bytes
    publisher: bytes
    published_at_ms: int
    announce: BattleAnnounce
    djs: dict[str, bytes]
    winner: str
    scores: dict[str, dict[str, int]] | None
    offences: tuple[Offence, ...]
    forfeit: str | None
    committee: tuple[bytes, ...]
    quorum: int
    revealed: int
    result_hash: bytes = bytes(32)
    forfeit_how: str | None = None  # "withdrew" (the DJ's own word) or "absent" (2f+1 members)

    def summary(self) -> dict[str, object]:
        return {
            "battle_id": self.battle_id.hex(),
            "result_hash": self.result_hash.hex(),
            "genre": self.announce.rules.genre,
            "djs": {side: peer_id_from_public_key(k) for side, k in self.djs.items()},
            "winner": self.winner,
            "forfeit": self.forfeit,
            "forfeit_how": self.forfeit_how,
            "scores": {
                side: {k: v / 100 for k, v in row.items()} for side, row in (self.scores or {}).items()
            }
            or {side: {"total": None} for side in SIDES},
            "committee": [peer_id_from_public_key(k) for k in self.committee],
            "committee_size": len(self.committee),
            "quorum": self.quorum,
            "revealed": self.revealed,
            "offences": [o.as_json() for o in self.offences],
            "model": self.announce.rules.model.hex(),
        }


def forfeiting_members(offences: Iterable[Offence]) -> tuple[bytes, ...]:
    """The members whose offences burn their seat bond (sorted, each once)."""
    return tuple(sorted({o.peer for o in offences if o.kind in FORFEITING_OFFENCES}))


def preference(r: Result) -> tuple[int, int, bytes]:
    """Which of a battle's verified results counts (smallest first): a DJ's own withdrawal, then a judged
    result, then a forfeit for absence; then the most counted verdicts (a publisher may leave reveals
    out, never add them); then the lowest result hash. Nothing in it depends on the bundle's bytes, so
    re-signing, reordering or grinding a bundle gains nothing."""
    kind = {"withdrew": 0, None: 1, "absent": 2}.get(r.forfeit_how, 3)
    return (kind, -r.revealed, r.result_hash)


def best_result(results: Iterable[Result]) -> Result | None:
    return min(results, key=preference, default=None)


def _decode_all(wires: Iterable[bytes], cache: EnvelopeCache | None) -> list[SignedEnvelope]:
    out = []
    for wire in wires:
        try:
            out.append(decode_envelope(wire, now_ms=None, cache=cache))
        except ProtocolError as exc:
            raise InvalidResultError(f"a message in the bundle is invalid: {exc}") from exc
    return out


def verify_bundle_envelope(envelope: SignedEnvelope, *, cache: EnvelopeCache | None = None) -> Result:
    """Check a decoded ``battle_result`` envelope against the messages it carries.

    ``cache``: the messages a node already verified (every member's bundle carries the same commits,
    reveals and joins, which gossip brought before): their signatures are not checked again. The
    outcome is the same with or without it."""
    bundle = envelope.message
    if not isinstance(bundle, BattleResult):
        raise InvalidResultError(f"expected a battle_result, got {envelope.kind}")
    envelopes = _decode_all(bundle.messages, cache)
    s = _sort(envelopes)
    spec = _check_basics(s)
    battle_id = s.announce.content_id
    if bundle.battle != battle_id:
        raise InvalidResultError("bundle names another battle than its announcement")
    djs = battle_djs(s.announce, s.accept)
    proven = _forfeit_of_messages(envelopes)
    if bundle.forfeit is not None or proven is not None:
        if proven is None:
            raise InvalidResultError(
                "forfeit claimed without evidence: it needs the DJ's own battle_withdraw "
                "or 2f+1 committee members' battle_absent"
            )
        side, how = proven
        if bundle.forfeit != side:
            raise InvalidResultError(f"the messages prove DJ {side.upper()} forfeits ({how})")
        if bundle.winner == side or bundle.scores is not None or bundle.offences:
            raise InvalidResultError("a forfeit names the other DJ as winner and carries no scores")
        committee: tuple[bytes, ...] = ()
        with contextlib.suppress(DrawError):
            committee = draw_committee(s.announce, s.accept, s.rosters, s.seeds, s.joins).committee
        return Result(
            battle_id, envelope.author, envelope.created_at_ms, spec, djs, bundle.winner, None, (),
            side, committee, 2 * faults_tolerated(len(committee)) + 1, 0,
            forfeit_result_hash(battle_id, side), how,
        )  # fmt: skip
    try:
        t = tally(envelopes, cache=cache)
    except QuorumError as exc:
        raise InvalidResultError(f"no quorum: {exc}") from exc
    if bundle.scores != t.scores:
        raise InvalidResultError("claimed scores are not the medians of the revealed verdicts")
    if bundle.winner != t.winner:
        raise InvalidResultError("claimed winner does not follow from the medians")
    if tuple(bundle.offences) != tuple((o.peer, o.kind) for o in t.offences):
        raise InvalidResultError("claimed offences differ from what the messages show")
    if {t.author for t in s.tracklists} != set(djs.values()):
        raise InvalidResultError("a judged result rests on both DJs' tracklists")
    return Result(
        battle_id, envelope.author, envelope.created_at_ms, spec, djs, t.winner, t.scores, t.offences,
        None, t.committee, t.quorum, len(t.verdicts), t.result_hash, None,
    )  # fmt: skip


def verify_result(data: bytes) -> Result:
    """Check a result bundle (the bytes of a signed ``battle_result`` envelope) offline."""
    envelope = decode_envelope(data, now_ms=None)
    return verify_bundle_envelope(envelope)


__all__ = [
    "FORFEITING_OFFENCES",
    "InvalidResultError",
    "MalformedMessageError",
    "Offence",
    "QuorumError",
    "Result",
    "SealedVerdict",
    "Tally",
    "best_result",
    "build_result",
    "commitment",
    "commitments_closed_at",
    "forfeiting_members",
    "preference",
    "reveals_open_at",
    "seal_verdict",
    "select_committee",
    "tally",
    "verify_result",
]
