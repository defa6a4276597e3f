"""Battle message kinds (schemas, topics) and the sans-IO battle state machine."""

from __future__ import annotations

import pytest

from djmesh.protocol.battle import (
    BATTLES_TOPIC,
    BattleAccept,
    BattleAnnounce,
    BattleMachine,
    BattleResult,
    Cancelled,
    Finished,
    Forfeited,
    Ignored,
    JudgeNow,
    Phase,
    Received,
    RevealNow,
    Rules,
    SetClosed,
    SetOpened,
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
        ({"committee_size": 5}, "3f + 1"),
        ({"join_by": T0 - 1}, "deadlines"),
        ({"crowd_weight": 1001}, "crowd_weight"),
        ({"extra": 1}, "unknown"),
    ],
)
def test_bad_announcements_are_refused(change: dict[str, object], error: str) -> None:
    payload = {**Battle().spec.to_payload(), **change}
    with pytest.raises(InvalidPayloadError, match=error):
        BattleAnnounce.parse(payload)  # type: ignore[arg-type]


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
    _feed(m, commits, spec.commit_by - 1)
    assert any(isinstance(a, RevealNow) for a in m.handle(Tick(), spec.commit_by + 1))
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
    late_join = b.joins[0]
    other = Battle(dj_a=key(3))
    actions = _feed(m, [stranger_accept, dj_join, other.accept], T0 + 200)
    assert [type(a) for a in actions] == [Ignored, Ignored, Ignored]
    assert m.phase is Phase.ANNOUNCED
    _feed(m, [b.accept], T0 + 300)
    assert isinstance(m.handle(Received(late_join), b.spec.join_by + 1)[0], Ignored)
    assert m.joins == {}
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
    actions = m.handle(Tick(), b.spec.accept_by + 1)
    assert any(isinstance(a, Cancelled) for a in actions) and m.phase is Phase.CANCELLED
    assert isinstance(m.handle(Received(b.accept), b.spec.accept_by + 2)[0], Ignored)


def test_dj_without_tracklist_forfeits_and_the_forfeit_verifies() -> None:
    b = Battle()
    m = BattleMachine(b.announce)
    _feed(m, [b.accept, *b.joins, b.tracklists[0]], T0 + 5000)
    m.handle(Tick(), b.spec.start_at)
    actions = m.handle(Tick(), b.spec.sets_end)
    forfeits = [a for a in actions if isinstance(a, Forfeited)]
    assert forfeits == [Forfeited("b", "no tracklist declared")]
    finished = [a for a in actions if isinstance(a, Finished)][0]
    assert finished.result.winner == "a" and m.phase is Phase.DONE
    envelope = sign(finished.result, b.dj_a, created_at_ms=b.spec.sets_end + 1)
    assert verify_bundle_envelope(envelope).forfeit == "b"


def test_rules_for_genre() -> None:
    rules = Rules.for_genre("dnb", committee_size=7)
    assert (rules.bpm_min, rules.bpm_max, rules.faults, rules.quorum) == (160, 180, 2, 5)
