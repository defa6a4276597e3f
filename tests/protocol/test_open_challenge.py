"""Open challenges: an announcement without an opponent, takers' accepts, and DJ A's binding.

Written as the attacks they must withstand: a seat taken without DJ A's bind, a bind forged by
someone else, a flood of takers, a challenger that binds two takers, a bundle that swaps DJ B.
"""

from __future__ import annotations

import pytest

from djmesh.protocol.battle import (
    ARRIVAL_GRACE_MS,
    BATTLES_TOPIC,
    MAX_TAKERS,
    BattleAccept,
    BattleAnnounce,
    BattleBind,
    BattleMachine,
    BindTaker,
    Cancelled,
    Ignored,
    Phase,
    Received,
    Tick,
    battle_topic,
    bound_accept,
)
from djmesh.protocol.committee import seed_commitment
from djmesh.protocol.consensus import InvalidResultError, build_result, verify_bundle_envelope
from djmesh.protocol.envelope import SignedEnvelope, decode_envelope, sign
from djmesh.protocol.errors import InvalidPayloadError
from djmesh.protocol.topics import topics_for
from tests.protocol.battle_helpers import T0, Battle, judged_result, key, scores


def _feed(m: BattleMachine, envelopes: list[SignedEnvelope], now: int) -> list[object]:
    out: list[object] = []
    for e in envelopes:
        out += m.handle(Received(e), now)
    return out


def _take(b: Battle, n: int, at: int = T0 + 1000) -> SignedEnvelope:
    """Peer ``key(n)`` offers to take ``b``'s open challenge."""
    return sign(
        BattleAccept(battle=b.id, seed_commit=seed_commitment(bytes([n]) * 32)), key(n), created_at_ms=at
    )


def _bind(b: Battle, accept: SignedEnvelope, signer: object = None, at: int = T0 + 1500) -> SignedEnvelope:
    return sign(BattleBind(battle=b.id, accept=accept.wire), signer or b.dj_a, created_at_ms=at)  # type: ignore[arg-type]


def test_an_open_announcement_names_no_opponent_and_round_trips() -> None:
    b = Battle(open=True)
    payload = b.spec.to_payload()
    assert payload["open"] is True and "opponent" not in payload
    again = decode_envelope(b.announce.wire, now_ms=None).message
    assert isinstance(again, BattleAnnounce) and again.is_open and again == b.spec
    # no inbox copy: there is nobody to deliver it to
    assert set(topics_for(b.announce)) == {battle_topic(b.id), BATTLES_TOPIC}
    named = Battle()
    assert "open" not in named.spec.to_payload()  # a named challenge keeps its bytes


@pytest.mark.parametrize(
    ("change", "error"),
    [
        ({"open": False}, "open: expected true"),
        ({"open": 1}, "open: expected true"),
        ({"open": True, "opponent": bytes(32)}, "names no opponent"),
        (
            {
                "open": True,
                "escrow": {"chain_id": 1, "contract": b"\1" * 20, "dj_a": b"\2" * 20, "dj_b": b"\3" * 20},
            },
            "no escrow terms",
        ),
    ],
)
def test_bad_open_announcements_are_refused(change: dict[str, object], error: str) -> None:
    payload = {**Battle(open=True).spec.to_payload(), **change}
    if change.get("open") is not True:
        payload.pop("opponent", None)
    with pytest.raises(InvalidPayloadError, match=error):
        BattleAnnounce.from_payload(payload)  # type: ignore[arg-type]


def test_bind_payload_is_strict() -> None:
    b = Battle(open=True)
    with pytest.raises(InvalidPayloadError, match="accept"):
        BattleBind.from_payload({"battle": b.id, "accept": b""})
    with pytest.raises(InvalidPayloadError):
        BattleBind.from_payload({"battle": b.id, "accept": b"\0" * 5000})
    with pytest.raises(InvalidPayloadError):
        BattleBind.from_payload({"battle": b.id})


def test_two_takers_race_and_only_the_bound_one_is_dj_b() -> None:
    b = Battle(open=True)
    m = BattleMachine(b.announce)
    assert m.djs["b"] == b""
    rival = _take(b, 60, at=T0 + 900)
    # the first valid take asks DJ A's node to bind it; the second waits and counts for nothing
    assert _feed(m, [rival], T0 + 950) == [BindTaker(rival)]
    assert _feed(m, [b.accept], T0 + 1100) == []
    assert m.phase is Phase.ANNOUNCED and [t.author for t in m.takers] == [rival.author, b.accept.author]
    # DJ A binds DJ B (an explicit pick, not the first): every node holding the bind agrees
    for order in ([b.bind], [b.accept, b.bind], [b.bind, rival]):
        n = BattleMachine(b.announce)
        _feed(n, order, T0 + 2000)
        assert n.phase is Phase.ACCEPTED and n.djs["b"] == bytes(b.dj_b.verify_key)
        assert n.accept is not None and n.accept.content_id == b.accept.content_id
    _feed(m, [b.bind], T0 + 1600)
    assert m.djs["b"] == bytes(b.dj_b.verify_key) and m.phase is Phase.ACCEPTED
    # the loser's accept after the bind is refused like any stranger's
    late_rival = _take(b, 60, at=T0 + 1700)
    assert isinstance(_feed(m, [late_rival], T0 + 1800)[0], Ignored)
    assert m.djs["b"] == bytes(b.dj_b.verify_key)


def test_nobody_but_the_challenger_can_give_the_seat() -> None:
    b = Battle(open=True)
    m = BattleMachine(b.announce)
    forged = _bind(b, b.accept, signer=b.dj_b)  # the taker binds itself
    third = _bind(b, b.accept, signer=key(61))
    actions = _feed(m, [b.accept, forged, third], T0 + 2000)
    assert [a.reason for a in actions if isinstance(a, Ignored)] == [
        "battle_bind not signed by the challenger"
    ] * 2
    assert m.phase is Phase.ANNOUNCED and m.djs["b"] == b""
    # an accept alone never starts the battle: without DJ A's bind it is cancelled at accept_by
    actions = m.handle(Tick(), b.spec.accept_by + ARRIVAL_GRACE_MS + 1)
    assert m.phase is Phase.CANCELLED and any(isinstance(a, Cancelled) for a in actions)


@pytest.mark.parametrize(
    ("make", "error"),
    [
        (lambda b: _bind(b, sign(BattleAccept(battle=b.id), b.dj_a, created_at_ms=T0 + 1000)), "its own"),
        (lambda b: _bind(b, Battle(open=True, t0=T0 + 5).accept), "no battle_accept of this battle"),
        (lambda b: _bind(b, _take(b, 62, at=b.spec.accept_by + 1)), "signed after accept_by"),
        (lambda b: _bind(b, b.accept, at=b.spec.accept_by + 1), "battle_bind signed after accept_by"),
        (lambda b: _bind(b, b.joins[0]), "no battle_accept"),
        (
            lambda b: sign(
                BattleBind(battle=b.id, accept=b.accept.wire[:-1] + b"\0"), b.dj_a, created_at_ms=T0 + 1
            ),
            "does not verify",
        ),
    ],
)
def test_bad_binds_are_refused(make: object, error: str) -> None:
    b = Battle(open=True)
    bind = make(b)  # type: ignore[operator]
    with pytest.raises(InvalidPayloadError, match=error):
        bound_accept(bind, b.announce)
    m = BattleMachine(b.announce)
    actions = m.handle(Received(bind), T0 + 2000)
    assert isinstance(actions[0], Ignored) and m.bind is None


def test_a_bind_of_a_named_challenge_counts_for_nothing() -> None:
    b = Battle()
    bind = sign(BattleBind(battle=b.id, accept=_take(b, 63).wire), b.dj_a, created_at_ms=T0 + 1500)
    m = BattleMachine(b.announce)
    assert isinstance(m.handle(Received(bind), T0 + 2000)[0], Ignored)
    assert m.djs["b"] == bytes(b.dj_b.verify_key)


def test_a_flood_of_takers_is_bounded_and_asks_for_one_bind() -> None:
    b = Battle(open=True)
    m = BattleMachine(b.announce)
    takes = [_take(b, 200 + i) for i in range(MAX_TAKERS + 10)]
    actions = _feed(m, takes + takes, T0 + 2000)  # and each one again
    assert [a for a in actions if isinstance(a, BindTaker)] == [BindTaker(takes[0])]
    assert len(m.takers) == MAX_TAKERS
    assert sum(isinstance(a, Ignored) for a in actions) == 20  # the 10 beyond the bound, twice


def test_a_challenger_that_binds_two_takers_cancels_its_battle() -> None:
    b = Battle(open=True)
    m = BattleMachine(b.announce)
    other = _take(b, 64)
    _feed(m, [b.bind], T0 + 2000)
    assert _feed(m, [b.bind], T0 + 2001) == []  # the same bind again is no equivocation
    actions = _feed(m, [_bind(b, other, at=T0 + 1600)], T0 + 2002)
    assert m.phase is Phase.CANCELLED
    assert any(isinstance(a, Cancelled) and "two different takers" in a.reason for a in actions)


def test_an_open_battle_is_judged_and_its_bundle_verifies_with_the_bound_dj() -> None:
    b = Battle(open=True)
    result = judged_result(b, scores(500, 800))
    bundle = sign(result, key(50), created_at_ms=b.spec.reveal_by + 1)
    verified = verify_bundle_envelope(bundle)
    assert verified.winner == "b" and verified.djs["b"] == bytes(b.dj_b.verify_key)


def test_a_bundle_without_the_bind_or_with_another_taker_is_refused() -> None:
    b = Battle(open=True)
    honest = judged_result(b)
    without_bind = [m for m in honest.messages if m != b.bind.wire]
    with pytest.raises(InvalidResultError, match="battle_bind"):
        build_result([decode_envelope(m, now_ms=None) for m in without_bind])
    # a rival's accept in place of DJ B's: the bind says otherwise
    rival = sign(
        BattleAccept(battle=b.id, seed_commit=seed_commitment(b.secret_b)), key(65), created_at_ms=T0 + 1000
    )
    swapped = [rival.wire if m == b.accept.wire else m for m in honest.messages]
    with pytest.raises(InvalidResultError, match="not the one the challenger bound"):
        build_result([decode_envelope(m, now_ms=None) for m in swapped])
    named = Battle()
    stray_bind = sign(
        BattleBind(battle=named.id, accept=named.accept.wire), named.dj_a, created_at_ms=T0 + 1500
    )
    with pytest.raises(InvalidResultError, match="names its opponent"):
        build_result([*named.base(), stray_bind])
