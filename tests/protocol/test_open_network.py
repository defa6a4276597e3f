"""Issue 13: battle results that hold in an open network. Each attack from the issue, tried again."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from djmesh.protocol.battle import (
    BattleJoin,
    BattleMachine,
    BattleResult,
    BattleRoster,
    BattleSeed,
    Finished,
    Ignored,
    JudgeNow,
    Phase,
    Received,
    RevealNow,
    TallyNow,
    Tick,
)
from djmesh.protocol.committee import DrawError, draw_committee, roster_kept
from djmesh.protocol.consensus import (
    InvalidResultError,
    build_result,
    preference,
    verify_bundle_envelope,
    verify_result,
)
from djmesh.protocol.envelope import SignedEnvelope, sign
from djmesh.protocol.ratings import ratings, verified_results
from tests.protocol.battle_helpers import T0, Battle, key, scores


def _signed(b: Battle, result: BattleResult, by: int = 999, at: int | None = None) -> SignedEnvelope:
    return sign(result, key(by), created_at_ms=at if at is not None else b.spec.reveal_by + 60_000)


def _honest(b: Battle) -> list[SignedEnvelope]:
    return b.base() + b.honest_round(scores(800, 500))


def _sybil_battle_messages(b: Battle, sybils: list[int], join_at: int) -> list[SignedEnvelope]:
    """The old attack: fresh keys join (back-dated), commit and reveal, with no roster and no seed."""
    out = [b.announce, b.accept, *b.tracklists]
    for n in sybils:
        k = key(n)
        out.append(sign(BattleJoin(battle=b.id), k, created_at_ms=join_at))
        sealed = b.seal(k, scores(100, 900))
        out += [b.commit(k, sealed), b.reveal(k, sealed)]
    return out


# -- 1. no result before its time ----------------------------------------------------------------


def test_a_valid_result_fed_during_the_sets_is_refused_with_the_rule() -> None:
    b = Battle()
    bundle = _signed(b, build_result(_honest(b)))
    m = BattleMachine(b.announce)
    for e in [b.accept, *b.joins, *b.rosters, *b.seeds, *b.tracklists]:
        m.handle(Received(e), T0 + 5000)
    m.handle(Tick(), b.spec.start_at + 1000)
    assert m.phase is Phase.SETS
    actions = m.handle(Received(bundle), b.spec.start_at + 2000)
    assert isinstance(actions[0], Ignored) and "before its time" in actions[0].reason
    assert m.phase is Phase.SETS and m.result is None
    # the same bundle, once the commits are closed, stands
    m.handle(Tick(), b.spec.commit_by + 1)
    assert any(isinstance(a, Finished) for a in m.handle(Received(bundle), b.spec.commit_by + 2))


# -- 2. a result is a function of the battle, not the bundle ---------------------------------------


def test_a_one_member_sybil_committee_no_longer_verifies() -> None:
    """Issue 13, attack 2: one back-dated Sybil join used to make a committee of 1 with quorum 1."""
    b = Battle()
    messages = _sybil_battle_messages(b, [700], join_at=b.spec.join_by - 1)
    with pytest.raises(InvalidResultError, match="no committee: no seed"):
        build_result(messages)
    bundle = BattleResult(b.id, tuple(e.wire for e in messages), "b", scores(100, 900), ())
    with pytest.raises(InvalidResultError, match="no committee"):
        verify_result(_signed(b, bundle, by=700).wire)


def test_four_sybils_cannot_flip_the_leaderboard() -> None:
    """Issue 13, attack 3: a bundle of 4 Sybils' verdicts with an earlier timestamp beat the honest one."""
    b = Battle()
    honest = _signed(b, build_result(_honest(b)))
    sybil_messages = _sybil_battle_messages(b, [701, 702, 703, 704], join_at=b.spec.join_by - 1)
    sybil = BattleResult(b.id, tuple(e.wire for e in sybil_messages), "b", scores(100, 900), ())
    early = _signed(b, sybil, by=701, at=b.spec.commit_by)
    assert [r.result_hash for r in verified_results([early, honest])] == [
        verify_bundle_envelope(honest).result_hash
    ]
    (row_winner, *_rest) = ratings(verified_results([early, honest]))["house"]
    assert row_winner.peer == bytes(b.dj_a.verify_key)


def test_sybils_on_one_djs_roster_only_get_no_seat() -> None:
    b = Battle(viewers=6)
    viewers = [bytes(k.verify_key) for k in b.viewer_keys]
    sybil_keys = [key(800 + i) for i in range(20)]
    sybils = [bytes(k.verify_key) for k in sybil_keys]
    sybil_joins = [sign(BattleJoin(battle=b.id), k, created_at_ms=T0 + 3000) for k in sybil_keys]
    # DJ B lists twenty Sybils; DJ A lists only the viewers it knows
    rosters, seeds = b.draw_messages(viewers, viewers + sybils)
    draw = draw_committee(b.announce, b.accept, rosters, seeds, [*b.joins, *sybil_joins])
    assert not set(draw.committee) & set(sybils)
    assert set(draw.roster) == set(viewers)


def test_a_committee_not_derivable_from_the_djs_rosters_and_seeds_is_refused() -> None:
    b = Battle()
    viewers = [bytes(k.verify_key) for k in b.viewer_keys]
    good = build_result(_honest(b))

    def swap(*drop: SignedEnvelope, add: tuple[SignedEnvelope, ...] = ()) -> list[SignedEnvelope]:
        gone = {e.content_id for e in drop}
        return [e for e in _honest(b) if e.content_id not in gone] + list(add)

    def refused(envelopes: list[SignedEnvelope], rule: str) -> None:
        bundle = BattleResult(b.id, tuple(e.wire for e in envelopes), good.winner, good.scores, good.offences)
        with pytest.raises(InvalidResultError, match=rule):
            verify_result(_signed(b, bundle).wire)

    # a roster signed by someone other than the DJ the seeds name
    fake = sign(
        BattleRoster(battle=b.id, members=tuple(sorted(viewers))),
        key(900),
        created_at_ms=b.spec.join_by + 100,
    )
    refused(swap(b.rosters[1], add=(fake,)), "roster")
    # a seed that does not open the DJ's commitment
    pair = (b.rosters[0].content_id, b.rosters[1].content_id)
    wrong = sign(
        BattleSeed(battle=b.id, secret=bytes(32), rosters=pair), b.dj_b, created_at_ms=b.spec.join_by + 200
    )
    refused(swap(b.seeds[1], add=(wrong,)), "does not open its commitment")
    # seeds naming different rosters
    other_rosters, other_seeds = b.draw_messages(viewers[:-1])
    refused(swap(b.seeds[1], add=(other_rosters[1], other_seeds[1])), "one pair of rosters")
    # a roster signed after the roster window (back-dating the committee needs the DJs' keys)
    late = sign(
        BattleRoster(battle=b.id, members=tuple(sorted(viewers))), b.dj_a, created_at_ms=b.spec.roster_by + 1
    )
    refused(swap(b.rosters[0], add=(late,)), "outside")
    # a roster that seats a viewer whose join is missing
    refused(swap(*b.joins), "without a join")


def test_an_inner_message_outside_its_window_is_refused_by_verifier_and_machine() -> None:
    b = Battle()
    late_join = sign(BattleJoin(battle=b.id), key(901), created_at_ms=b.spec.join_by + 1)
    with pytest.raises(InvalidResultError, match="join signed after join_by"):
        build_result([*_honest(b), late_join])
    member = b.members[0]
    early_commit = b.seal(member, scores(800, 500)).commit(member, created_at_ms=b.spec.sets_end - 1)
    with pytest.raises(InvalidResultError, match="before the sets ended"):
        build_result([*_honest(b), early_commit])
    m = BattleMachine(b.announce)
    for e in [b.accept, *b.joins, *b.rosters, *b.seeds]:
        m.handle(Received(e), T0 + 5000)
    refusal = m.handle(Received(early_commit), b.spec.start_at)[0]
    assert isinstance(refusal, Ignored) and "before the sets ended" in refusal.reason
    assert early_commit not in m.evidence()


def test_two_bundles_of_one_battle_have_one_result_hash() -> None:
    """Issue 13, attack 4: a member re-signing and grinding a bundle's content ID gains nothing."""
    b = Battle()
    envelopes = _honest(b)
    first = verify_bundle_envelope(_signed(b, build_result(envelopes)))
    ground = [
        verify_bundle_envelope(
            _signed(b, build_result(list(reversed(envelopes))), by=member, at=b.spec.reveal_by + n)
        )
        for n, member in enumerate(range(1000, 1020))
    ]
    assert {r.result_hash for r in ground} == {first.result_hash}
    assert len({_signed(b, build_result(envelopes), by=n).content_id for n in range(1000, 1005)}) == 5
    # leaving a reveal out gives another, worse result: it never beats the complete one
    reveal = next(e for e in envelopes if e.kind == "battle_reveal")
    thinner = verify_bundle_envelope(_signed(b, build_result([e for e in envelopes if e is not reveal])))
    assert thinner.result_hash != first.result_hash
    assert preference(first) < preference(thinner)


def test_the_committee_seed_is_unknown_until_both_djs_reveal() -> None:
    """Issue 13, attack 5: the seed was H(battle, DJs), public at announce; now it needs both secrets."""
    a = Battle()
    b = Battle(secret_b=hashlib.sha256(b"another secret").digest())
    assert a.id == Battle().id  # same announcement, only DJ B's secret (committed in its accept) differs
    seeds = {draw_committee(x.announce, x.accept, x.rosters, x.seeds, x.joins).seed for x in (a, b)}
    assert len(seeds) == 2
    with pytest.raises(DrawError, match="no seed from DJ B"):
        draw_committee(a.announce, a.accept, a.rosters, a.seeds[:1], a.joins)


# -- 6. reordering, duplication, omission ----------------------------------------------------------


_BATTLE = Battle()
_ENVELOPES = _honest(_BATTLE)
_CANONICAL = verify_bundle_envelope(_signed(_BATTLE, build_result(_ENVELOPES)))


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=len(_ENVELOPES) - 1), max_size=3 * len(_ENVELOPES)))
def test_any_reordering_duplication_or_omission_gives_the_canonical_result_or_a_worse_one_or_a_refusal(
    picks: list[int],
) -> None:
    chosen = [_ENVELOPES[i] for i in picks]
    try:
        result = verify_bundle_envelope(_signed(_BATTLE, build_result(chosen)))
    except InvalidResultError:
        return  # refused: the messages do not prove a result
    if result.result_hash != _CANONICAL.result_hash:
        assert preference(_CANONICAL) < preference(result)
        assert result.revealed < _CANONICAL.revealed
    else:
        assert (result.winner, result.scores) == (_CANONICAL.winner, _CANONICAL.scores)


@settings(max_examples=30, deadline=None)
@given(st.permutations(_ENVELOPES), st.lists(st.sampled_from(_ENVELOPES), max_size=10))
def test_the_whole_battle_in_any_order_with_duplicates_is_the_canonical_result(
    order: list[SignedEnvelope], duplicates: list[SignedEnvelope]
) -> None:
    result = verify_bundle_envelope(_signed(_BATTLE, build_result([*order, *duplicates])))
    assert result.result_hash == _CANONICAL.result_hash


def test_a_dj_cannot_shrink_the_committee_by_vetoing_viewers() -> None:
    """A DJ that lists only its one Sybil would otherwise get a committee of 1 with quorum 1."""
    b = Battle(viewers=6)
    viewers = [bytes(k.verify_key) for k in b.viewer_keys]
    sybil = key(950)
    sybil_join = sign(BattleJoin(battle=b.id), sybil, created_at_ms=T0 + 3000)
    rosters, seeds = b.draw_messages([bytes(sybil.verify_key)], [*viewers, bytes(sybil.verify_key)])
    with pytest.raises(DrawError, match="committee needs 4"):
        draw_committee(b.announce, b.accept, rosters, seeds, [*b.joins, sybil_join])
    # and an honest DJ's node withholds its seed when the other roster drops over a third of its own
    assert roster_kept(viewers, viewers[:4]) and not roster_kept(viewers, viewers[:3])


def test_a_committee_with_f_liars_f_sybils_and_a_restarted_member_on_a_hand_clock() -> None:
    """n = 7 (f = 2): two members lie, two Sybils join (only DJ B lists them), one honest member's
    machine is lost after it committed and rebuilt from its stored messages; every machine ends on
    one result, the honest one."""
    b = Battle(committee_size=7, viewers=7)
    spec = b.spec
    viewers = [bytes(k.verify_key) for k in b.viewer_keys]
    sybil_keys = [key(960), key(961)]
    sybil_joins = [sign(BattleJoin(battle=b.id), k, created_at_ms=T0 + 4000) for k in sybil_keys]
    rosters, seeds = b.draw_messages(viewers, viewers + [bytes(k.verify_key) for k in sybil_keys])
    machines = {bytes(m.verify_key): BattleMachine(b.announce) for m in b.members}
    log: dict[bytes, list[SignedEnvelope]] = {k: [b.announce] for k in machines}  # what each node stored

    def deliver(envelopes: list[SignedEnvelope], now: int) -> dict[bytes, list[object]]:
        out: dict[bytes, list[object]] = {}
        for member, machine in machines.items():
            acts: list[object] = []
            for e in envelopes:
                acts += machine.handle(Received(e), now)
                log[member].append(e)
            acts += machine.handle(Tick(), now)
            out[member] = acts
        return out

    deliver([b.accept, *b.joins, *sybil_joins], T0 + 5000)
    deliver(rosters, spec.join_by + 100)
    deliver(seeds, spec.join_by + 200)
    assert all(set(m.committee()) == {bytes(k.verify_key) for k in b.members} for m in machines.values())
    assert not {bytes(k.verify_key) for k in sybil_keys} & set(next(iter(machines.values())).committee())
    deliver(b.tracklists[:1], spec.start_at)
    deliver(b.tracklists[1:], spec.set_window("b")[0])
    judged = deliver([], spec.sets_end)
    assert all(any(isinstance(a, JudgeNow) for a in acts) for acts in judged.values())

    liars = b.members[:2]
    restarted = b.members[2]
    sealed = {
        bytes(m.verify_key): b.seal(m, scores(300, 900) if m in liars else scores(800, 500))
        for m in b.members
    }
    on_disk = sealed[bytes(restarted.verify_key)]  # what BattleSecrets keeps across the crash
    at = spec.sets_end + 2000
    commits = [sealed[bytes(m.verify_key)].commit(m, created_at_ms=at) for m in b.members]
    sybil_commits = [b.seal(k, scores(0, 1000)).commit(k, created_at_ms=at) for k in sybil_keys]
    acts = deliver([*commits, *sybil_commits], at + 10)
    assert all(any(isinstance(a, RevealNow) for a in x) for x in acts.values())

    # the restarted member: a fresh machine fed its stored messages at their signed times, actions dropped
    me = bytes(restarted.verify_key)
    fresh = BattleMachine(b.announce)
    for e in sorted(log[me][1:], key=lambda e: (e.created_at_ms, e.content_id)):
        fresh.handle(Received(e), e.created_at_ms)
    fresh.handle(Tick(), at + 20)
    assert fresh.phase is Phase.REVEAL and fresh.committee() == machines[me].committee()
    machines[me] = fresh

    reveals = [
        sealed[bytes(m.verify_key)].reveal(m, created_at_ms=at + 30) for m in b.members if m is not restarted
    ]
    reveals.append(on_disk.reveal(restarted, created_at_ms=max(at + 30, fresh.reveals_open_at())))
    acts = deliver(reveals, at + 40)
    tally_now = next(a for a in acts[me] if isinstance(a, TallyNow))
    bundle = sign(build_result(tally_now.messages), restarted, created_at_ms=at + 50)
    result = verify_bundle_envelope(bundle)
    assert result.winner == "a" and result.revealed == 7
    assert sorted((o.peer, o.kind) for o in result.offences) == sorted(
        (bytes(k.verify_key), "outlier") for k in liars
    )
    finished = deliver([bundle], at + 60)
    assert all(any(isinstance(a, Finished) for a in x) for x in finished.values())
    assert {m.phase for m in machines.values()} == {Phase.DONE}
