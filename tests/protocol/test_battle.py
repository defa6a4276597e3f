"""Battle message kinds (schemas, topics) and the sans-IO battle state machine."""

from __future__ import annotations

import pytest

from djmesh.protocol.battle import (
    ARRIVAL_GRACE_MS,
    BATTLES_TOPIC,
    SECP256K1_N,
    AttestAbsent,
    BattleAbsent,
    BattleAccept,
    BattleAnnounce,
    BattleJoin,
    BattleMachine,
    BattleResult,
    BattleWithdraw,
    Cancelled,
    Finished,
    Forfeited,
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
    battle_topic,
)
from djmesh.protocol.cbor import encode
from djmesh.protocol.consensus import build_result, verify_bundle_envelope
from djmesh.protocol.envelope import decode_envelope, sign
from djmesh.protocol.errors import InvalidPayloadError, ProtocolError
from djmesh.protocol.topics import belongs_on, topics_for
from tests.protocol.battle_helpers import T0, Battle, key, scores


def _feed(machine: BattleMachine, envelopes: list, now: int) -> list:
    actions = []
    for e in envelopes:
        actions += machine.handle(Received(e), now)
    return actions


def test_messages_round_trip_and_route_to_the_battle_topic() -> None:
    b = Battle()
    for e in [*b.base(), *b.honest_round(scores(800, 500))]:
        again = decode_envelope(e.wire, now_ms=None)
        assert again.message == e.message
        assert topics_for(e)[0] == battle_topic(b.id)
        assert belongs_on(e, battle_topic(b.id))
    assert BATTLES_TOPIC in topics_for(b.announce)
    assert not belongs_on(b.joins[0], BATTLES_TOPIC)


@pytest.mark.parametrize(
    ("change", "error"),
    [
        ({"genre": "polka"}, "genre"),
        ({"bpm_min": 140}, "bpm_min"),
        ({"committee_size": 5}, "committee_size"),
        ({"join_by": T0 - 1}, "deadlines"),
        ({"crowd_weight": 1001}, "crowd_weight"),
        ({"extra": 1}, "unknown"),
    ],
)
def test_bad_announcements_are_refused(change: dict[str, object], error: str) -> None:
    payload = {**Battle().spec.to_payload(), **change}
    with pytest.raises(InvalidPayloadError, match=error):
        BattleAnnounce.parse(payload)  # type: ignore[arg-type]


def _signature(r: int = 5, s: int = 7, v: int = 27) -> bytes:
    return r.to_bytes(32, "big") + s.to_bytes(32, "big") + bytes([v])


def test_an_accept_without_a_gate_signature_keeps_its_old_bytes_and_one_with_it_round_trips() -> None:
    battle, seed = b"\1" * 32, b"\2" * 32
    plain = BattleAccept(battle=battle, seed_commit=seed)
    assert plain.to_payload() == {"battle": battle, "seed_commit": seed}  # what older nodes sign and read
    assert BattleAccept.parse(plain.to_payload()) == plain  # type: ignore[arg-type]
    signed = BattleAccept(battle=battle, seed_commit=seed, gate_signature=_signature(v=28))
    envelope = sign(signed, key(2), created_at_ms=T0)
    assert decode_envelope(envelope.wire, now_ms=None).message == signed


@pytest.mark.parametrize(
    ("signature", "error"),
    [
        (b"", "65-byte"),
        (_signature()[:64], "65-byte"),
        (_signature() + b"\0", "at most 65"),
        (_signature(v=1), "canonical"),
        (_signature(r=0), "canonical"),
        (_signature(r=SECP256K1_N), "canonical"),
        (_signature(s=0), "canonical"),
        (_signature(s=SECP256K1_N // 2 + 1), "canonical"),  # the malleable twin the gate refuses
        ("not bytes", "at most 65"),
    ],
)
def test_a_bad_gate_signature_in_an_accept_is_refused(signature: object, error: str) -> None:
    payload = {"battle": b"\1" * 32, "seed_commit": b"\2" * 32, "gate_signature": signature}
    with pytest.raises(InvalidPayloadError, match=error):
        BattleAccept.parse(payload)  # type: ignore[arg-type]


def test_tracklist_schema() -> None:
    battle = b"\1" * 32
    ok = Tracklist(battle=battle, titles=("a", "b"), cues_ms=(0, 1000))
    assert Tracklist.parse(ok.to_payload()) == ok
    for cues in ([0], [1000, 0], [0, -1], [0, True]):
        with pytest.raises(InvalidPayloadError):
            Tracklist.parse({**ok.to_payload(), "cues_ms": cues})
    with pytest.raises(ProtocolError):
        decode_envelope(encode({"a": 1}), now_ms=None)


def test_happy_path_through_every_phase() -> None:
    b = Battle(committee_size=4)
    m = BattleMachine(b.announce)
    spec = b.spec
    assert m.handle(Tick(), T0 + 500) == []
    actions = _feed(m, [b.accept, *b.joins], T0 + 5000)
    assert m.phase is Phase.ACCEPTED
    assert m.committee() == ()  # nobody knows the committee while joining
    # join_by: each DJ signs the joins it saw; with both rosters here, each DJ opens its seed
    asked = m.handle(Tick(), spec.join_by)
    assert SignRoster(tuple(j.author for j in sorted(b.joins, key=lambda j: j.created_at_ms))) in asked
    assert [a for a in _feed(m, b.rosters, spec.join_by + 100) if isinstance(a, RevealSeed)] == [
        RevealSeed((b.rosters[0].content_id, b.rosters[1].content_id))
    ]
    _feed(m, b.seeds, spec.join_by + 200)
    assert set(m.committee()) == {bytes(k.verify_key) for k in b.members}
    actions = _feed(m, b.tracklists[:1], spec.start_at)
    assert any(isinstance(a, SetOpened) and a.side == "a" and a.tracklist is not None for a in actions)
    assert m.phase is Phase.SETS
    actions = _feed(m, b.tracklists[1:], spec.set_window("b")[0])
    assert [a.side for a in actions if isinstance(a, SetClosed)] == ["a"]
    actions = m.handle(Tick(), spec.sets_end)
    judge = [a for a in actions if isinstance(a, JudgeNow)]
    assert (
        m.phase is Phase.COMMIT
        and judge
        and set(judge[0].committee) == {bytes(k.verify_key) for k in b.members}
    )
    round_ = b.honest_round(scores(800, 500))
    commits = [e for e in round_ if e.kind == "battle_commit"]
    reveals = [e for e in round_ if e.kind == "battle_reveal"]
    assert not any(isinstance(a, RevealNow) for a in _feed(m, commits[:-1], spec.commit_by - 4000))
    assert m.phase is Phase.COMMIT
    # the last member's commit binds every verdict: reveals start without waiting for commit_by
    assert any(isinstance(a, RevealNow) for a in _feed(m, commits[-1:], spec.commit_by - 4000))
    actions = _feed(m, reveals, spec.commit_by + 2)
    tallies = [a for a in actions if isinstance(a, TallyNow)]
    assert len(tallies) == 1  # everyone revealed: no need to wait for the deadline
    assert m.handle(Tick(), spec.reveal_by + 1) == []  # and only once
    result = build_result(tallies[0].messages)
    bundle = sign(result, key(50), created_at_ms=spec.reveal_by + 2)
    actions = m.handle(Received(bundle), spec.reveal_by + 3)
    assert any(isinstance(a, Finished) and a.result.winner == "a" for a in actions)
    assert m.phase is Phase.DONE


def test_who_may_say_what() -> None:
    b = Battle()
    m = BattleMachine(b.announce)
    stranger_accept = sign(BattleAccept(battle=b.id), key(77), created_at_ms=T0 + 100)
    dj_join = sign(type(b.joins[0].message)(battle=b.id), b.dj_b, created_at_ms=T0 + 100)
    late_join = sign(BattleJoin(battle=b.id), key(80), created_at_ms=b.spec.join_by + 1)
    other = Battle(dj_a=key(3))
    actions = _feed(m, [stranger_accept, dj_join, other.accept], T0 + 200)
    assert [type(a) for a in actions] == [Ignored, Ignored, Ignored]
    assert m.phase is Phase.ANNOUNCED
    _feed(m, [b.accept], T0 + 300)
    assert isinstance(m.handle(Received(late_join), b.spec.join_by + 1)[0], Ignored)
    assert m.joins == {}
    # a join signed in time but delayed by gossip still counts (the tally goes by signed time)
    assert m.handle(Received(b.joins[0]), b.spec.join_by + 5000) == []
    assert list(m.joins) == [b.joins[0].author]
    foreign_tracklist = sign(
        Tracklist(battle=b.id, titles=("x",), cues_ms=(0,)), key(78), created_at_ms=b.spec.start_at
    )
    assert isinstance(m.handle(Received(foreign_tracklist), b.spec.start_at)[0], Ignored)
    bogus = sign(
        BattleResult(battle=b.id, messages=(b.announce.wire,), winner="b", scores=None, forfeit="a"),
        key(79),
        created_at_ms=b.spec.sets_end + 1,
    )
    assert isinstance(m.handle(Received(bogus), b.spec.start_at + 1)[0], Ignored)


def test_not_accepted_in_time_is_cancelled() -> None:
    b = Battle()
    m = BattleMachine(b.announce)
    assert m.handle(Tick(), b.spec.accept_by + 1) == []  # an accept may still be on its way
    actions = m.handle(Tick(), b.spec.accept_by + ARRIVAL_GRACE_MS + 1)
    assert any(isinstance(a, Cancelled) for a in actions) and m.phase is Phase.CANCELLED
    assert isinstance(m.handle(Received(b.accept), b.spec.accept_by + ARRIVAL_GRACE_MS + 2)[0], Ignored)


def test_a_missing_set_forfeits_only_on_2f_plus_1_members_word_and_that_forfeit_verifies() -> None:
    b = Battle()
    m = BattleMachine(b.announce)
    _feed(m, [b.accept, *b.joins, *b.rosters, *b.seeds, b.tracklists[0]], T0 + 5000)
    m.handle(Tick(), b.spec.start_at)
    actions = m.handle(Tick(), b.spec.sets_end)
    assert AttestAbsent("b", m.committee()) in actions
    assert not any(isinstance(a, Finished) for a in actions)
    absent = [
        sign(BattleAbsent(battle=b.id, side="b"), k, created_at_ms=b.spec.sets_end + 10) for k in b.members
    ]
    outsider = sign(BattleAbsent(battle=b.id, side="b"), key(500), created_at_ms=b.spec.sets_end + 10)
    assert isinstance(m.handle(Received(outsider), b.spec.sets_end + 20)[0], Ignored)
    assert not any(isinstance(a, Finished) for a in _feed(m, absent[:2], b.spec.sets_end + 20))
    actions = _feed(m, absent[2:3], b.spec.sets_end + 20)  # the third of four: 2f+1
    assert [a.side for a in actions if isinstance(a, Forfeited)] == ["b"]
    finished = next(a for a in actions if isinstance(a, Finished))
    assert finished.result.winner == "a" and m.phase is Phase.DONE
    tally_now = next(a for a in actions if isinstance(a, TallyNow))
    envelope = sign(build_result(tally_now.messages), b.members[0], created_at_ms=b.spec.sets_end + 30)
    verified = verify_bundle_envelope(envelope)
    assert (verified.forfeit, verified.forfeit_how) == ("b", "absent")


def test_a_withdrawal_is_a_forfeit_only_when_the_dj_itself_signs_it() -> None:
    b = Battle()
    m = BattleMachine(b.announce)
    _feed(m, [b.accept, *b.joins, *b.rosters, *b.seeds], T0 + 5000)
    forged = sign(BattleWithdraw(battle=b.id), key(600), created_at_ms=b.spec.start_at)
    assert isinstance(m.handle(Received(forged), b.spec.start_at)[0], Ignored)
    own = sign(BattleWithdraw(battle=b.id), b.dj_b, created_at_ms=b.spec.start_at)
    actions = m.handle(Received(own), b.spec.start_at)
    assert Forfeited("b", "withdrew") in actions and m.phase is Phase.DONE
    tally_now = next(a for a in actions if isinstance(a, TallyNow))
    envelope = sign(build_result(tally_now.messages), key(601), created_at_ms=b.spec.start_at + 1)
    assert verify_bundle_envelope(envelope).forfeit_how == "withdrew"


def test_rules_for_genre() -> None:
    rules = Rules.for_genre("dnb", committee_size=7)
    assert (rules.bpm_min, rules.bpm_max, rules.faults, rules.quorum) == (160, 180, 2, 5)


def test_simultaneous_sets_open_and_close_together() -> None:
    b = Battle(mode="simultaneous")
    spec = b.spec
    m = BattleMachine(b.announce)
    _feed(m, [b.accept, *b.joins, *b.rosters, *b.seeds], T0 + 2)
    opened = _feed(m, b.tracklists, spec.start_at)
    assert sorted(a.side for a in opened if isinstance(a, SetOpened)) == ["a", "b"]
    length = spec.rules.set_seconds * 1000
    closed = m.handle(Tick(), spec.start_at + length)
    assert sorted(a.side for a in closed if isinstance(a, SetClosed)) == ["a", "b"]
    assert m.phase is Phase.COMMIT and spec.sets_end == spec.start_at + length


def test_double_sign_evidence_reaches_the_bundle() -> None:
    b = Battle()
    m = BattleMachine(b.announce)
    _feed(m, [b.accept, *b.joins, *b.rosters, *b.seeds, *b.tracklists], T0 + 5000)
    m.handle(Tick(), b.spec.sets_end)
    liar = b.members[0]
    sealed = b.seal(liar, scores(800, 500))
    leaked = b.seal(liar, scores(300, 900), n=3).verdict
    assert m.handle(Received(leaked), b.spec.sets_end + 10) == []
    _feed(m, [b.commit(liar, sealed)], b.spec.commit_by - 1)
    _feed(m, [b.reveal(liar, sealed)], b.spec.commit_by + 1)
    assert leaked in m.evidence()
    result = build_result([*m.evidence(), *b.honest_round(scores(800, 500))[2:]])
    assert (bytes(liar.verify_key), "double_sign") in result.offences


def _judging(b: Battle) -> BattleMachine:
    """A machine that saw the whole battle up to the end of the sets."""
    m = BattleMachine(b.announce)
    _feed(m, [b.accept, *b.joins, *b.rosters, *b.seeds, *b.tracklists], T0 + 5000)
    m.handle(Tick(), b.spec.sets_end)
    assert m.phase is Phase.COMMIT
    return m


def test_reveals_open_when_every_member_committed_and_the_result_stands_before_commit_by() -> None:
    b = Battle(committee_size=4)
    member, observer = _judging(b), _judging(b)
    now = b.spec.sets_end + 3000
    sealed = [b.seal(m, scores(800 + i, 500)) for i, m in enumerate(b.members)]
    commits = [s.commit(m, created_at_ms=now - 1000) for m, s in zip(b.members, sealed, strict=True)]
    for machine in (member, observer):
        assert not any(isinstance(a, RevealNow) for a in _feed(machine, commits[:-1], now))
        assert any(isinstance(a, RevealNow) for a in _feed(machine, commits[-1:], now))
        assert machine.reveals_open_at() == now - 1000
    reveals = [s.reveal(m, created_at_ms=now + 10) for m, s in zip(b.members, sealed, strict=True)]
    tallies = [a for a in _feed(member, reveals, now + 20) if isinstance(a, TallyNow)]
    assert len(tallies) == 1
    bundle = sign(build_result(tallies[0].messages), b.members[0], created_at_ms=now + 30)
    _feed(observer, reveals, now + 25)
    finished = [a for a in observer.handle(Received(bundle), now + 40) if isinstance(a, Finished)]
    assert finished and finished[0].result.winner == "a" and finished[0].result.offences == ()
    assert observer.phase is Phase.DONE
    assert now + 40 < b.spec.commit_by


def test_reveals_wait_for_a_missing_commit_until_the_commit_deadline() -> None:
    b = Battle(committee_size=4)
    m = _judging(b)
    now = b.spec.sets_end + 3000
    # three members commit in time, the fourth only after the deadline: it does not bind in time
    commits = [b.seal(k, scores(800, 500)).commit(k, created_at_ms=now) for k in b.members[:3]]
    late = b.seal(b.members[3], scores(800, 500)).commit(b.members[3], created_at_ms=b.spec.commit_by + 1)
    assert not any(isinstance(a, RevealNow) for a in _feed(m, [*commits, late], now))
    assert not any(isinstance(a, RevealNow) for a in m.handle(Tick(), b.spec.commit_by))
    assert any(isinstance(a, RevealNow) for a in m.handle(Tick(), b.spec.commit_by + 1))


def test_a_commit_signed_in_the_future_delays_reveals_but_cannot_make_them_early() -> None:
    """A liar stamps its commit later than now: honest members wait for that time, so the tally
    never finds their reveals signed before the last commit (which would frame them)."""
    b = Battle(committee_size=4)
    m = _judging(b)
    now = b.spec.sets_end + 3000
    stamped = b.spec.commit_by - 2000
    sealed = [b.seal(k, scores(800, 500)) for k in b.members]
    commits = [s.commit(k, created_at_ms=now) for k, s in zip(b.members[:3], sealed, strict=False)]
    commits.append(sealed[3].commit(b.members[3], created_at_ms=stamped))
    assert not any(isinstance(a, RevealNow) for a in _feed(m, commits, now))
    assert not any(isinstance(a, RevealNow) for a in m.handle(Tick(), stamped - 1))
    assert any(isinstance(a, RevealNow) for a in m.handle(Tick(), stamped))
    reveals = [s.reveal(k, created_at_ms=stamped) for k, s in zip(b.members, sealed, strict=True)]
    result = build_result([*m.evidence(), *reveals])
    assert result.offences == ()
