"""Elo per genre from verified results: integer math, any order in, the same table out."""

from __future__ import annotations

import random
from pathlib import Path

from djmesh.node.home import NodeHome
from djmesh.node.store import Store
from djmesh.protocol.battle import BattleResult
from djmesh.protocol.consensus import build_result
from djmesh.protocol.envelope import SignedEnvelope, sign
from djmesh.protocol.peer_id import peer_id_from_public_key
from djmesh.protocol.ratings import (
    INITIAL,
    expected_milli,
    leaderboard_from_store_messages,
    ratings,
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
    assert djmesh("--home", str(home.root), "leaderboard", "--genre", "dnb", "--json").json() == {"dnb": []}
    text = djmesh("--home", str(home.root), "leaderboard")
    assert text.returncode == 0 and "house:" in text.stdout
    empty = djmesh("--home", str(tmp_path / "nothing"), "leaderboard")
    assert empty.returncode != 0 and "djmesh init" in empty.stderr


def test_a_judged_result_outranks_a_forfeit_claim_for_the_same_battle() -> None:
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
    assert len(verified_results([claim, judged])) == 2
    rows = leaderboard_from_store_messages([claim, judged])["house"]
    assert rows[0]["peer"] == peer_id_from_public_key(bytes(b.dj_b.verify_key))
