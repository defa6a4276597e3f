"""Commit-reveal consensus with f lying committee members: the honest result stands, liars are named."""

from __future__ import annotations

import hashlib
import random
from pathlib import Path

import nacl.signing
import pytest

from djmesh.protocol.battle import BattleJoin, BattleResult, Verdict, VerdictReveal, fine_judged, winner_of
from djmesh.protocol.consensus import (
    InvalidResultError,
    QuorumError,
    SealedVerdict,
    build_result,
    select_committee,
    tally,
    verify_bundle_envelope,
    verify_result,
)
from djmesh.protocol.envelope import EnvelopeCache, SignedEnvelope, decode_envelope, sign
from djmesh.protocol.errors import ProtocolError
from tests.helpers.cli import CliRunner
from tests.protocol.battle_helpers import MODEL, Battle, key, scores


def _honest(i: int) -> dict[str, dict[str, int]]:
    return scores(800 + 5 * i, 520 - 3 * i)  # honest judges differ a little


def _liar_messages(b: Battle, member_index: int, kind: str) -> list[SignedEnvelope]:
    m = b.members[member_index]
    if kind == "random":
        rng = random.Random(member_index)
        s = scores(rng.randrange(0, 300), rng.randrange(900, 1001), base=rng.randrange(0, 1001))
        sealed = b.seal(m, s)
        return [b.commit(m, sealed), b.reveal(m, sealed)]
    if kind == "copy":  # commits to nothing real, then reveals a copy of an honest member's scores
        garbage = b.seal(m, scores(1, 1), n=9)
        copied = b.seal(m, _honest(0), n=1)
        return [b.commit(m, garbage), b.reveal(m, copied)]
    if kind == "copy_late":  # waits for the reveals, then commits and reveals a copy
        copied = b.seal(m, _honest(0), n=1)
        return [b.commit(m, copied, late=True), b.reveal(m, copied)]
    if kind == "late":
        sealed = b.seal(m, _honest(member_index))
        return [b.commit(m, sealed), b.reveal(m, sealed, late=True)]
    if kind == "double":  # signs two different verdicts; one leaks as evidence
        sealed = b.seal(m, _honest(member_index))
        other = b.seal(m, scores(100, 900), n=2)
        return [b.commit(m, sealed), b.reveal(m, sealed), other.verdict]
    if kind == "double_reveal":
        first, second = b.seal(m, _honest(member_index)), b.seal(m, scores(100, 900), n=2)
        return [b.commit(m, first), b.commit(m, second), b.reveal(m, first), b.reveal(m, second)]
    if kind == "wrong_model":
        from djmesh.protocol.consensus import seal_verdict

        sealed = seal_verdict(
            m,
            b.id,
            hashlib.sha256(b"other").digest(),
            _honest(1),
            created_at_ms=b.spec.sets_end + 1,
            salt=b"s" * 32,
        )
        return [b.commit(m, sealed), b.reveal(m, sealed)]
    if kind == "early":  # reveals before the others committed (at commit_by - 5 s), who could copy it
        sealed = b.seal(m, _honest(member_index))
        at = b.spec.commit_by - 20_000
        return [sealed.commit(m, created_at_ms=at), sealed.reveal(m, created_at_ms=at + 10_000)]
    if kind == "one_criterion":  # fair totals, but one criterion wildly off
        s = _honest(member_index)
        s["b"]["gain"] = 0
        sealed = b.seal(m, s)
        return [b.commit(m, sealed), b.reveal(m, sealed)]
    if kind == "silent":
        return []
    raise AssertionError(kind)


EXPECTED = {
    "random": {"outlier"},
    "copy": {"bad_reveal", "no_reveal"},
    "copy_late": {"late_commit", "bad_reveal", "no_reveal"},
    "late": {"late_reveal", "no_reveal"},
    "double": {"double_sign"},
    "double_reveal": {"double_sign"},
    "wrong_model": {"wrong_model", "no_reveal"},
    "early": {"early_reveal", "no_reveal"},
    "one_criterion": {"outlier"},
    "silent": {"no_reveal"},
}


def _round(b: Battle, liars: dict[int, str]) -> list[SignedEnvelope]:
    out = b.base()
    for i, m in enumerate(b.members):
        if i in liars:
            out += _liar_messages(b, i, liars[i])
        else:
            sealed = b.seal(m, _honest(i))
            out += [b.commit(m, sealed), b.reveal(m, sealed)]
    return out


def _check_honest_result_stands(b: Battle, liars: dict[int, str], envelopes: list[SignedEnvelope]) -> None:
    t = tally(envelopes)
    assert t.winner == "a"
    honest = [_honest(i) for i in range(len(b.members)) if i not in liars]
    for side in ("a", "b"):
        for k, v in t.scores[side].items():
            values = [h[side][k] for h in honest]
            assert min(values) <= v <= max(values), (side, k)
    flagged: dict[bytes, set[str]] = {}
    for o in t.offences:
        flagged.setdefault(o.peer, set()).add(o.kind)
    for i, m in enumerate(b.members):
        pub = bytes(m.verify_key)
        if i in liars:
            assert flagged.get(pub, set()) == EXPECTED[liars[i]], liars[i]
        else:
            assert pub not in flagged
    bundle = sign(build_result(envelopes), key(999), created_at_ms=b.spec.reveal_by + 60_000)
    result = verify_result(bundle.wire)
    assert result.winner == "a" and result.scores == t.scores


@pytest.mark.parametrize("kind", sorted(EXPECTED))
def test_one_liar_of_four(kind: str) -> None:
    b = Battle(committee_size=4)
    liars = {2: kind}
    _check_honest_result_stands(b, liars, _round(b, liars))


@pytest.mark.parametrize(
    "kinds", [("random", "random"), ("copy", "double"), ("late", "random"), ("double_reveal", "silent")]
)
def test_two_liars_of_seven(kinds: tuple[str, str]) -> None:
    b = Battle(committee_size=7, viewers=9)
    liars = {1: kinds[0], 5: kinds[1]}
    _check_honest_result_stands(b, liars, _round(b, liars))


def test_colluding_liars_cannot_flip_the_winner() -> None:
    b = Battle(committee_size=7, viewers=9)
    liars = {0: "random", 3: "random"}
    t = tally(_round(b, liars))
    assert t.winner == "a"


def test_no_quorum_without_2f_plus_1_reveals() -> None:
    b = Battle(committee_size=4)
    envelopes = _round(b, {0: "silent", 1: "late"})
    with pytest.raises(QuorumError):
        tally(envelopes)
    with pytest.raises(QuorumError):
        build_result(envelopes)


# ---- reveals before the commit deadline, once every member has committed ---------------------------


def _offences(envelopes: list[SignedEnvelope]) -> dict[bytes, set[str]]:
    flagged: dict[bytes, set[str]] = {}
    for o in tally(envelopes).offences:
        flagged.setdefault(o.peer, set()).add(o.kind)
    return flagged


def _sealed(b: Battle, count: int | None = None) -> list[tuple[nacl.signing.SigningKey, SealedVerdict]]:
    """Members and their honest sealed verdicts (the first ``count`` members)."""
    return [(m, b.seal(m, _honest(i))) for i, m in enumerate(b.members[:count])]


def test_reveals_once_every_member_committed_count_before_the_commit_deadline() -> None:
    b = Battle(committee_size=4)
    first = b.spec.sets_end + 2000
    sealed = _sealed(b)
    out = b.base()
    out += [s.commit(m, created_at_ms=first + 500 * i) for i, (m, s) in enumerate(sealed)]
    last = first + 500 * (len(sealed) - 1)
    # the first reveal is signed in the same ms as the last commit, the others shortly after
    out += [s.reveal(m, created_at_ms=last + 100 * i) for i, (m, s) in enumerate(sealed)]
    assert last + 1000 < b.spec.commit_by
    assert _offences(out) == {}
    published = sign(build_result(out), b.members[0], created_at_ms=last + 1000)
    result = verify_result(published.wire)
    assert result.winner == "a" and result.revealed == 4 and result.offences == ()


def test_a_reveal_before_every_member_committed_is_still_early() -> None:
    b = Battle(committee_size=4)
    (m0, s0), *others = _sealed(b)
    early_at = b.spec.commit_by - 20_000
    out = b.base()
    out += [s0.commit(m0, created_at_ms=early_at), s0.reveal(m0, created_at_ms=early_at + 5_000)]
    # the others commit after member 0 revealed (they could have copied it), then reveal
    out += [s.commit(m, created_at_ms=early_at + 10_000) for m, s in others]
    out += [s.reveal(m, created_at_ms=early_at + 10_001) for m, s in others]
    assert _offences(out) == {bytes(m0.verify_key): {"early_reveal", "no_reveal"}}


def test_with_a_member_who_never_committed_reveals_wait_for_the_commit_deadline() -> None:
    b = Battle(committee_size=4)
    sealed = _sealed(b, 3)
    commits = [s.commit(m, created_at_ms=b.spec.commit_by - 5000) for m, s in sealed]
    early = [s.reveal(m, created_at_ms=b.spec.commit_by - 1000) for m, s in sealed]
    with pytest.raises(QuorumError):  # all three early: none counts
        tally([*b.base(), *commits, *early])
    on_time = [s.reveal(m, created_at_ms=b.spec.commit_by + 1) for m, s in sealed]
    assert _offences([*b.base(), *commits, *on_time]) == {bytes(b.members[3].verify_key): {"no_reveal"}}


def test_a_commit_signed_after_the_reveals_opened_cannot_change_a_verdict() -> None:
    b = Battle(committee_size=4)
    liar = b.members[3]
    committed_at = b.spec.commit_by - 20_000
    revealed_at = committed_at + 1000
    out = b.base()
    for i, m in enumerate(b.members[:3]):
        s = b.seal(m, _honest(i))
        out += [s.commit(m, created_at_ms=committed_at), s.reveal(m, created_at_ms=revealed_at)]
    garbage = b.seal(liar, scores(1, 1), n=9)
    copied = b.seal(liar, _honest(0), n=1)
    out += [garbage.commit(liar, created_at_ms=committed_at)]
    # having seen the honest reveals, the liar commits to a copy before commit_by and reveals it
    late = [
        copied.commit(liar, created_at_ms=revealed_at + 1000),
        copied.reveal(liar, created_at_ms=revealed_at + 2000),
    ]
    assert _offences([*out, *late]) == {bytes(liar.verify_key): {"late_commit", "bad_reveal", "no_reveal"}}
    # backdating the copy's commit does not help: its first commit is in the bundle, so it signed two
    backdated = [copied.commit(liar, created_at_ms=committed_at - 1), late[1]]
    assert _offences([*out, *backdated]) == {bytes(liar.verify_key): {"double_sign"}}
    _check_verifies(b, [*out, *late], winner="a")


def test_liars_copying_an_early_liar_gain_nothing() -> None:
    b = Battle(committee_size=7, viewers=9)
    first, second = b.members[0], b.members[1]
    lie = scores(100, 900)
    early_at = b.spec.commit_by - 20_000
    out = b.base()
    told = b.seal(first, lie)
    out += [told.commit(first, created_at_ms=early_at), told.reveal(first, created_at_ms=early_at + 1)]
    copy = b.seal(second, lie)
    out += [
        copy.commit(second, created_at_ms=early_at + 2),
        copy.reveal(second, created_at_ms=b.spec.commit_by + 1),
    ]
    for i, m in enumerate(b.members[2:], start=2):
        s = b.seal(m, _honest(i))
        out += [s.commit(m, created_at_ms=early_at + 3), s.reveal(m, created_at_ms=early_at + 4)]
    flagged = _offences(out)
    assert flagged == {
        bytes(first.verify_key): {"early_reveal", "no_reveal"},
        bytes(second.verify_key): {"outlier"},
    }
    _check_verifies(b, out, winner="a")


def _check_verifies(b: Battle, envelopes: list[SignedEnvelope], *, winner: str) -> None:
    result = verify_result(_bundle(b, build_result(envelopes)))
    assert result.winner == winner


def test_committee_is_fixed_by_the_seed_and_excludes_djs() -> None:
    b = Battle(committee_size=4, viewers=8)
    djs = [bytes(b.dj_a.verify_key), bytes(b.dj_b.verify_key)]
    viewers = [bytes(k.verify_key) for k in b.viewer_keys]
    seed = hashlib.sha256(b"seed").digest()
    first = select_committee(seed, djs, viewers + djs, 4)
    assert first == select_committee(seed, djs, list(reversed(viewers)), 4)
    assert not set(first) & set(djs)
    assert len(first) == 4
    assert first != select_committee(hashlib.sha256(b"other seed").digest(), djs, viewers, 4)
    # a DJ joining its own battle breaks the join window rules: such a bundle is refused
    dj_join = sign(BattleJoin(battle=b.id), b.dj_a, created_at_ms=b.spec.join_by - 1)
    with pytest.raises(InvalidResultError, match="own battle"):
        tally([*_round(b, {}), dj_join])


def _bundle(b: Battle, result: BattleResult) -> bytes:
    return sign(result, key(999), created_at_ms=b.spec.reveal_by + 60_000).wire


def test_tampered_bundles_are_refused() -> None:
    b = Battle(committee_size=4)
    envelopes = _round(b, {})
    honest = build_result(envelopes)
    assert verify_result(_bundle(b, honest)).winner == "a"
    flipped = BattleResult(honest.battle, honest.messages, "b", honest.scores, honest.offences)
    with pytest.raises(InvalidResultError, match="winner"):
        verify_result(_bundle(b, flipped))
    assert honest.scores is not None
    inflated = {**honest.scores, "b": {**honest.scores["b"], "energy": 999}}
    with pytest.raises(InvalidResultError, match="medians"):
        verify_result(
            _bundle(b, BattleResult(honest.battle, honest.messages, "a", inflated, honest.offences))
        )
    framed = ((bytes(b.members[0].verify_key), "outlier"),)
    with pytest.raises(InvalidResultError, match="offences"):
        verify_result(_bundle(b, BattleResult(honest.battle, honest.messages, "a", honest.scores, framed)))
    reveals = [e.wire for e in envelopes if e.kind == "battle_reveal"]
    thin = tuple(m for m in honest.messages if m not in reveals[:2])
    with pytest.raises(InvalidResultError, match="quorum"):
        verify_result(_bundle(b, BattleResult(honest.battle, thin, "a", honest.scores, honest.offences)))
    wire = bytearray(_bundle(b, honest))
    wire[-70] ^= 1
    with pytest.raises(ProtocolError):
        verify_result(bytes(wire))
    for junk in (b"", b"\xa0", b"garbage" * 30, envelopes[0].wire):
        with pytest.raises(ProtocolError):
            verify_result(junk)


def test_a_cache_of_verified_messages_changes_no_outcome() -> None:
    """Members' bundles carry the same messages, so a node checks them with the envelopes it verified
    before: a forged bundle must fail just the same, a valid one give the same result."""
    b = Battle(committee_size=4)
    envelopes = _round(b, {})
    honest = build_result(envelopes)
    cache = EnvelopeCache()
    for envelope in envelopes:  # what gossip brought this node before the bundles
        decode_envelope(envelope.wire, now_ms=None, cache=cache)
    bundle = decode_envelope(_bundle(b, honest), now_ms=None)
    assert verify_bundle_envelope(bundle, cache=cache) == verify_bundle_envelope(bundle)
    # a reveal whose verdict was swapped for another member's: refused with the cache warm too
    reveal = next(e for e in envelopes if e.kind == "battle_reveal")
    other = next(e for e in envelopes if e.kind == "battle_reveal" and e.author != reveal.author)
    assert isinstance(reveal.message, VerdictReveal) and isinstance(other.message, VerdictReveal)
    swapped = sign(
        VerdictReveal(battle=b.id, verdict=other.message.verdict, salt=reveal.message.salt),
        b.members[next(i for i, m in enumerate(b.members) if bytes(m.verify_key) == reveal.author)],
        created_at_ms=reveal.created_at_ms,
    )
    messages = tuple(swapped.wire if m == reveal.wire else m for m in honest.messages)
    forged = BattleResult(honest.battle, messages, "a", honest.scores, honest.offences)
    outcomes = []
    for warm in (cache, None):
        with pytest.raises(InvalidResultError) as refused:
            verify_bundle_envelope(decode_envelope(_bundle(b, forged), now_ms=None), cache=warm)
        outcomes.append(str(refused.value))
    assert outcomes[0] == outcomes[1] and "medians" in outcomes[0]
    # a message whose signature was altered is not the cached one (the key is a hash of all its bytes)
    broken = bytearray(reveal.wire)
    broken[-3] ^= 1
    tampered = tuple(bytes(broken) if m == reveal.wire else m for m in honest.messages)
    with pytest.raises(InvalidResultError, match="invalid"):
        verify_bundle_envelope(
            decode_envelope(
                _bundle(b, BattleResult(honest.battle, tampered, "a", honest.scores, ())), now_ms=None
            ),
            cache=cache,
        )


def test_verdicts_must_name_the_winner_their_scores_give() -> None:
    b = Battle()
    with pytest.raises(ProtocolError):
        sign(Verdict(battle=b.id, model=MODEL, scores=scores(100, 900), winner="a"), key(5), created_at_ms=1)


def _tied(beatmatch_b: int) -> dict[str, dict[str, int]]:
    """Equal totals and technicals; B's beatmatch differs by less than the totals' rounding shows."""
    s = scores(820, 820)
    s["b"]["beatmatch"] = beatmatch_b
    return s


def test_equal_totals_go_to_the_finer_judged_score_in_either_order() -> None:
    # B's beatmatch 0.07 lower moves its judged score by 0.007: the totals still agree at 0.01
    tie = _tied(693)
    assert fine_judged(tie["a"]) - fine_judged(tie["b"]) == 7
    swapped = {"a": tie["b"], "b": tie["a"]}
    assert (winner_of(tie), winner_of(swapped)) == ("a", "b")  # the same set wins, announced first or not
    assert winner_of(_tied(707)) == "b"
    assert winner_of(_tied(700)) == "a"  # equal everywhere: DJ A, as before
    # rules count twice, as in the judged score: -2 rules outweighs +3 beatmatch
    s = _tied(703)
    s["b"]["rules"] = 698
    assert winner_of(s) == "a"


def test_a_verdict_that_breaks_a_tie_the_other_way_is_refused() -> None:
    b = Battle()
    with pytest.raises(ProtocolError):
        sign(Verdict(battle=b.id, model=MODEL, scores=_tied(693), winner="b"), key(5), created_at_ms=1)


def test_the_tally_breaks_a_tie_of_the_median_totals_by_the_median_criteria() -> None:
    b = Battle(committee_size=4)
    envelopes = b.base() + b.honest_round(_tied(707))
    t = tally(envelopes)
    assert t.winner == "b" and t.scores["a"]["total"] == t.scores["b"]["total"]
    assert not t.offences


def test_cli_verify(djmesh: CliRunner, tmp_path: Path) -> None:
    b = Battle(committee_size=4)
    good = tmp_path / "result.cbor"
    good.write_bytes(_bundle(b, build_result(_round(b, {3: "random"}))))
    ok = djmesh("verify", str(good), "--json")
    assert ok.returncode == 0, ok.stderr
    summary = ok.json()
    assert summary["valid"] and summary["winner"] == "a" and summary["revealed"] == 4
    # the canonical result hash: the same for this bundle re-signed by anyone else
    resigned = sign(
        decode_envelope(good.read_bytes(), now_ms=None).message, key(5), created_at_ms=b.spec.reveal_by
    )
    assert summary["result_hash"] == verify_result(resigned.wire).result_hash.hex()
    assert [o["kind"] for o in summary["offences"]] == ["outlier"]
    text = djmesh("verify", str(good))
    assert text.returncode == 0 and "valid result" in text.stdout
    bad = tmp_path / "bad.cbor"
    bad.write_bytes(good.read_bytes()[:-1] + b"\x00")
    refused = djmesh("verify", str(bad))
    assert refused.returncode == 1 and refused.stderr.startswith("error: invalid result")
    missing = djmesh("verify", str(tmp_path / "none"))
    assert missing.returncode != 0 and "cannot read" in missing.stderr


from hypothesis import given  # noqa: E402
from hypothesis import strategies as st  # noqa: E402


@given(st.binary(max_size=512))
def test_arbitrary_bytes_are_refused_cleanly(data: bytes) -> None:
    with pytest.raises(ProtocolError):
        verify_result(data)
