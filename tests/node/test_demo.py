"""`djmesh demo`, the main job: a whole battle on loopback, with one lying committee member."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers.cli import CliRunner

pytestmark = [pytest.mark.timeout(400)]

LMMS = Path("/usr/share/lmms/samples/beats")


@pytest.mark.skipif(
    not LMMS.is_dir(), reason="needs Debian's lmms-common loops (scripts/setup installs them)"
)
def test_demo_battle_with_a_liar(djmesh: CliRunner, tmp_path: Path) -> None:
    result = djmesh(
        "--home", str(tmp_path / "home"), "demo", "--viewers", "4", "--byzantine", "1", "--json", timeout=360
    )
    assert result.returncode == 0, result.stderr[-3000:]
    summary = result.json()
    assert set(summary) >= {"battle_id", "result", "verdicts", "leaderboard"}
    assert len(summary["battle_id"]) == 64
    # DJ A plays the clean, beat-matched set; DJ B the train-wreck.
    assert summary["result"]["winner"] == "a"
    scores = summary["result"]["scores"]
    assert scores["a"]["total"] > scores["b"]["total"]
    assert summary["result"]["agreed_by"] == summary["result"]["nodes"] == 6
    verdicts = summary["verdicts"]
    assert {"peer", "honest", "winner", "total_a", "total_b"} <= set(verdicts[0])
    assert len(verdicts) == 4 and sum(not v["honest"] for v in verdicts) == 1
    assert all(v["winner"] == "a" for v in verdicts if v["honest"])
    # The honest verdicts are identical: every honest node judged the same signed audio.
    honest_totals = {(v["total_a"], v["total_b"]) for v in verdicts if v["honest"]}
    assert len(honest_totals) == 1
    liar = next(v["peer"] for v in verdicts if not v["honest"])
    assert liar in {o["peer"] for o in summary["result"]["offences"]}
    [board] = summary["leaderboard"].values()
    by_peer = {row["peer"]: row for row in board}
    dj_a, dj_b = summary["result"]["djs"]["a"], summary["result"]["djs"]["b"]
    assert by_peer[dj_a]["wins"] == 1 and by_peer[dj_b]["losses"] == 1
    assert by_peer[dj_a]["rating"] > by_peer[dj_b]["rating"]


def test_demo_refuses_more_liars_than_the_committee_tolerates(djmesh: CliRunner, tmp_path: Path) -> None:
    result = djmesh("--home", str(tmp_path / "home"), "demo", "--viewers", "4", "--byzantine", "2")
    assert result.returncode != 0
    assert "tolerates at most 1" in result.stderr and "Traceback" not in result.stderr
