"""Elo per genre from verified results: integer math, any order in, the same table out."""

from __future__ import annotations

import functools
import random
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from djmesh.node.home import NodeHome
from djmesh.node.store import Store
from djmesh.protocol.battle import BattleResult
from djmesh.protocol.consensus import build_result
from djmesh.protocol.envelope import SignedEnvelope, sign
from djmesh.protocol.messages import Profile
from djmesh.protocol.peer_id import peer_id_from_public_key
from djmesh.protocol.ratings import (
    INITIAL,
    TIERS,
    Standing,
    expected_milli,
    leaderboard_from_store_messages,
    ratings,
    record_of,
    tier_of,
    verified_results,
)
from tests.helpers.cli import CliRunner
from tests.protocol.battle_helpers import Battle, key, scores


def _result(dj_a: int, dj_b: int, a_wins: bool, when: int) -> SignedEnvelope:
    b = Battle(dj_a=key(dj_a), dj_b=key(dj_b))
    s = scores(800, 500) if a_wins else scores(400, 700)
    result = build_result(b.base() + b.honest_round(s))
    return sign(result, key(999), created_at_ms=b.spec.reveal_by + when)


def test_expected_score_is_symmetric_and_sane() -> None:
    assert expected_milli(INITIAL, INITIAL) == 500
    assert expected_milli(INITIAL + 400_000, INITIAL) in (909, 910)
    for d in range(0, 900_000, 37_000):
        assert expected_milli(INITIAL + d, INITIAL) + expected_milli(INITIAL, INITIAL + d) in (999, 1000)


def test_same_table_whatever_order_and_duplicates() -> None:
    envelopes = [
        _result(1, 2, True, 1),
        _result(2, 3, False, 2),
        _result(3, 1, True, 3),
        _result(1, 3, True, 4),
    ]
    table = leaderboard_from_store_messages(envelopes)
    shuffled = envelopes * 2
    random.Random(1).shuffle(shuffled)
    assert leaderboard_from_store_messages(shuffled) == table
    house = table["house"]
    assert [row["wins"] + row["losses"] for row in house] == [3, 3, 2]
    assert sum(row["rating"] for row in house) == 4500.0  # Elo is zero-sum
    assert house[0]["wins"] == 2


def test_unverifiable_results_do_not_count() -> None:
    good = _result(1, 2, True, 1)
    message = good.message
    assert isinstance(message, BattleResult)
    forged = sign(
        BattleResult(message.battle, message.messages, "b", message.scores, message.offences),
        key(999),
        created_at_ms=good.created_at_ms + 1,
    )
    assert len(verified_results([good, forged])) == 1
    table = ratings(verified_results([forged]))
    assert table == {}


def test_cli_leaderboard_from_the_store(djmesh: CliRunner, tmp_path: Path) -> None:
    home = NodeHome.resolve(tmp_path / "home")
    home.ensure()
    with Store(home.database) as store:
        store.add_many([_result(1, 2, True, 1), _result(1, 3, True, 2)])
    out = djmesh("--home", str(home.root), "leaderboard", "--json")
    assert out.returncode == 0, out.stderr
    rows = out.json()["house"]
    assert rows[0]["wins"] == 2 and rows[0]["rating"] > 1500
    top = peer_id_from_public_key(bytes(key(1).verify_key))
    assert (rows[0]["rank"], rows[0]["name"], rows[0]["tier"]) == (1, "…" + top[-8:], "Bronze")  # no profile
    assert djmesh("--home", str(home.root), "leaderboard", "--genre", "dnb", "--json").json() == {"dnb": []}
    with Store(home.database) as store:
        store.add(sign(Profile(name="DJ Ada"), key(1), created_at_ms=1))
    text = djmesh("--home", str(home.root), "leaderboard")
    assert text.returncode == 0 and "house:" in text.stdout and "1. DJ Ada" in text.stdout
    empty = djmesh("--home", str(tmp_path / "nothing"), "leaderboard")
    assert empty.returncode != 0 and "djmesh init" in empty.stderr


def test_an_outsiders_forfeit_claim_proves_nothing() -> None:
    """Issue 13, attack 1: leaving B's tracklist out of a bundle used to be a valid forfeit."""
    b = Battle()
    judged = sign(
        build_result(b.base() + b.honest_round(scores(400, 700))),
        key(999),
        created_at_ms=b.spec.reveal_by + 9,
    )
    # DJ A leaves B's tracklist out and claims B never showed up, before the committee's bundle
    without_b = [e for e in b.base() if e is not b.tracklists[1]]
    forfeit = BattleResult(b.id, tuple(e.wire for e in without_b), "a", None, forfeit="b")
    claim = sign(forfeit, b.dj_a, created_at_ms=b.spec.sets_end + 1)
    assert verified_results([claim]) == []
    assert len(verified_results([claim, judged])) == 1
    rows = leaderboard_from_store_messages([claim, judged])["house"]
    assert rows[0]["peer"] == peer_id_from_public_key(bytes(b.dj_b.verify_key))


# -- records and tiers -----------------------------------------------------------------------


def test_tiers_follow_the_rating_at_the_documented_thresholds() -> None:
    assert tier_of(INITIAL) == "Bronze"  # everyone starts at Bronze
    for rating, tier in [
        (0, "Bronze"),
        (1549_999, "Bronze"),
        (1550_000, "Silver"),
        (1649_999, "Silver"),
        (1650_000, "Gold"),
        (1750_000, "Platinum"),
        (1849_999, "Platinum"),
        (1850_000, "Diamond"),
        (3000_000, "Diamond"),
    ]:
        assert tier_of(rating) == tier, rating


@given(st.lists(st.integers(min_value=0, max_value=4000_000), min_size=2, max_size=20))
def test_a_higher_rating_never_has_a_lower_tier(ratings_milli: list[int]) -> None:
    order = [name for _, name in reversed(TIERS)]
    for low, high in zip(sorted(ratings_milli), sorted(ratings_milli)[1:], strict=False):
        assert order.index(tier_of(low)) <= order.index(tier_of(high))


@functools.cache
def _judged(dj_a: int, dj_b: int, total_a: int, total_b: int) -> SignedEnvelope:
    b = Battle(dj_a=key(dj_a), dj_b=key(dj_b))
    result = build_result(b.base() + b.honest_round(scores(total_a, total_b)))
    return sign(result, key(999), created_at_ms=b.spec.reveal_by + 1)


_battles = st.lists(
    st.tuples(
        st.sampled_from([(1, 2), (2, 1), (1, 3), (3, 1), (2, 3), (3, 2), (1, 4), (4, 2)]),
        st.integers(min_value=0, max_value=1000),
        st.integers(min_value=0, max_value=1000),
    ),
    min_size=1,
    max_size=8,
    unique_by=lambda battle: battle[0],  # one battle per ordered pair (same DJs, same announcement)
)


@settings(max_examples=25, deadline=None)
@given(_battles, st.randoms(use_true_random=False))
def test_records_add_up_whatever_order_the_results_arrive_in(
    battles: list[tuple[tuple[int, int], int, int]], rng: random.Random
) -> None:
    envelopes = [_judged(a, b, total_a, total_b) for (a, b), total_a, total_b in battles]
    shuffled = envelopes * 2
    rng.shuffle(shuffled)
    tables = ratings(verified_results(envelopes))
    assert ratings(verified_results(shuffled)) == tables  # same standings, any order, duplicates once
    rows = tables["house"]
    assert sum(s.rating for s in rows) == INITIAL * len(rows)  # zero-sum, exactly: integer math
    assert sum(s.wins for s in rows) == sum(s.losses for s in rows) == len(battles)
    for peer_n in {n for (pair, _, _) in battles for n in pair}:
        peer = bytes(key(peer_n).verify_key)
        mine = [(pair, ta, tb) for pair, ta, tb in battles if peer_n in pair]
        # the winner follows the totals (ties: DJ A, as winner_of breaks them with equal criteria and technicals)
        won = sum(1 for (a, _), ta, tb in mine if (ta >= tb) == (a == peer_n))
        totals = [ta if a == peer_n else tb for (a, _), ta, tb in mine]
        record = record_of(peer, tables)
        assert (record.wins, record.losses, record.draws, record.battles) == (
            won,
            len(mine) - won,
            0,
            len(mine),
        )
        assert record.average_score == round(sum(totals) / len(totals) / 100, 2)
        assert record.tier == tier_of(record.genres["house"][1].rating)
        rank, standing = record.genres["house"]
        assert rows[rank - 1] is standing
        data = record.as_json()
        assert data["peer"] == peer_id_from_public_key(peer) and data["genres"]["house"]["rank"] == rank


def test_a_record_spans_genres_and_takes_the_best_genre_for_its_tier() -> None:
    ada, bob = bytes(key(1).verify_key), bytes(key(2).verify_key)
    tables = {
        "house": [
            Standing(bob, 1_600_000, wins=3, scored=3, score_sum=2_400),
            Standing(ada, 1_400_000, losses=3),
        ],
        "techno": [Standing(ada, 1_700_000, wins=4, losses=1, scored=5, score_sum=3_500)],
    }
    record = record_of(ada, tables)
    assert (record.wins, record.losses, record.draws, record.battles) == (4, 4, 0, 8)
    assert record.rating == 1_700_000 and record.tier == "Gold"
    assert record.average_score == 7.0  # 3500 hundredths over the 5 judged battles (a forfeit has no scores)
    data = record.as_json()
    assert data["rating"] == 1700.0 and data["tier"] == "Gold"
    assert data["genres"]["house"] == {
        "peer": peer_id_from_public_key(ada),
        "rating": 1400.0,
        "wins": 0,
        "losses": 3,
        "draws": 0,
        "battles": 3,
        "average_score": None,
        "tier": "Bronze",
        "rank": 2,
    }
    stranger = record_of(bytes(key(3).verify_key), tables)
    assert stranger.battles == 0 and stranger.tier is None and stranger.average_score is None
    assert stranger.as_json()["rating"] is None and stranger.as_json()["genres"] == {}


def test_leaderboard_rows_carry_tier_and_average_score() -> None:
    rows = leaderboard_from_store_messages([_judged(1, 2, 800, 500), _judged(1, 3, 700, 650)])["house"]
    top = rows[0]
    assert top["peer"] == peer_id_from_public_key(bytes(key(1).verify_key))
    assert (top["wins"], top["average_score"], top["tier"]) == (2, 7.5, "Bronze")
    assert {row["tier"] for row in rows} == {"Bronze"}  # two wins do not make Silver
