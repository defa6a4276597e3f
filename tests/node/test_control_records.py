"""Names, records and notifications through the control API (what `djmesh profile/leaderboard/notifications
--json` print), on a real node and store."""

from __future__ import annotations

from pathlib import Path

import pytest

from djmesh.node.control import ControlClient, ControlServer
from djmesh.protocol.consensus import build_result
from djmesh.protocol.envelope import sign
from djmesh.protocol.messages import Profile
from djmesh.protocol.peer_id import peer_id_from_public_key
from tests.helpers.network import make_node
from tests.protocol.battle_helpers import Battle, key, scores

pytestmark = pytest.mark.timeout(60)


async def test_profiles_leaderboard_and_notifications_carry_names_and_records(tmp_path: Path) -> None:
    async with make_node(tmp_path, "dj-b", []) as node, ControlServer(node):
        ada = peer_id_from_public_key(bytes(key(1).verify_key))
        battle = Battle(dj_a=key(1), dj_b=node.identity.signing_key)  # Ada challenged us, and won
        bundle = build_result(battle.base() + battle.honest_round(scores(800, 500)))
        node.store.add_many(
            [
                sign(
                    Profile(name="DJ Ada", bio="house all night"), key(1), created_at_ms=battle.spec.accept_by
                ),
                *battle.base(),
                sign(bundle, key(900), created_at_ms=battle.spec.reveal_by + 1),
            ]
        )
        client = ControlClient(node.home, timeout_s=20)

        mine = await client.call("profile_show")
        assert (
            mine["peer_id"] == node.peer_id and mine["display_name"] == "dj-b" and mine["updated_at"] is None
        )
        assert (mine["record"]["wins"], mine["record"]["losses"], mine["record"]["tier"]) == (0, 1, "Bronze")
        assert mine["record"]["average_score"] == 5.0 and mine["record"]["genres"]["house"]["rank"] == 2
        theirs = await client.call("profile_show", peer_id=ada)
        assert (theirs["name"], theirs["bio"], theirs["display_name"]) == (
            "DJ Ada",
            "house all night",
            "DJ Ada",
        )
        assert theirs["record"]["wins"] == 1 and theirs["record"]["rating"] > 1500
        stranger = peer_id_from_public_key(bytes(key(5).verify_key))
        assert await client.call("profile_show", peer_id=stranger) is None  # no profile, no battle

        board = await client.call("leaderboard")
        assert [(r["rank"], r["name"], r["tier"], r["wins"]) for r in board["house"]] == [
            (1, "DJ Ada", "Bronze", 1),
            (2, "dj-b", "Bronze", 0),
        ]
        assert await client.call("leaderboard", genre="techno") == {"techno": []}

        notices = await client.call("notifications")
        assert [(n["reason"], n["author_name"]) for n in notices] == [
            ("result", "…" + peer_id_from_public_key(bytes(key(900).verify_key))[-8:]),
            ("challenge", "DJ Ada"),
        ]
        assert notices[0]["text"] == "house battle: DJ Ada won against you (8.00 to 5.00)"
        assert notices[0]["winner"] == "a" and notices[0]["winner_name"] == "DJ Ada"
        assert notices[1]["text"] == "DJ Ada challenges you to a house battle"
        assert notices[1]["battle_id"] == battle.id.hex() and notices[1]["kind"] == "battle_announce"

        await node.post("warming up")
        [item] = await client.call("feed")
        assert item["author"] == node.peer_id and item["author_name"] == "dj-b"
