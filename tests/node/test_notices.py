"""What makes a notification, on a real store: challenges, mentions, our battles' results (verified)."""

from __future__ import annotations

from pathlib import Path

from djmesh.node.names import PeerNames
from djmesh.node.notices import Notices
from djmesh.node.records import VerifiedResults
from djmesh.node.store import Store
from djmesh.protocol.battle import BattleResult
from djmesh.protocol.consensus import build_result
from djmesh.protocol.envelope import SignedEnvelope, sign
from djmesh.protocol.listen import ListenVoucher
from djmesh.protocol.messages import Post, Profile, Reaction
from tests.protocol.battle_helpers import Battle, key, scores


def stored(store: Store, envelope: SignedEnvelope) -> SignedEnvelope:
    store.add(envelope)
    return envelope


def test_challenges_mentions_and_our_battles_results_notify_once_and_forgeries_never(tmp_path: Path) -> None:
    battle = Battle()  # DJ A is key 1, DJ B (us) key 2
    me = bytes(battle.dj_b.verify_key)
    with Store(tmp_path / "store.sqlite3") as store:
        names = PeerNames(store, me=None)
        notices = Notices(me, VerifiedResults())
        stored(store, sign(Profile(name="DJ Ada"), battle.dj_a, created_at_ms=battle.spec.accept_by - 9000))

        challenge = notices.on_stored(store, stored(store, battle.announce))
        assert challenge is not None and challenge.reason == "challenge"
        assert challenge.battle_id == battle.id
        assert challenge.text(names, me) == "DJ Ada challenges you to a house battle"

        honest = build_result(battle.base() + battle.honest_round(scores(800, 500)))
        forged = BattleResult(honest.battle, honest.messages, "b", honest.scores, honest.offences)
        published = battle.spec.reveal_by + 60_000
        assert (
            notices.on_stored(store, stored(store, sign(forged, key(901), created_at_ms=published))) is None
        )
        for env in battle.base()[1:]:
            assert notices.on_stored(store, stored(store, env)) is None  # accept, joins, tracklists
        first = stored(store, sign(honest, key(902), created_at_ms=published + 1))
        result = notices.on_stored(store, first)
        assert result is not None and result.reason == "result" and result.result is not None
        assert result.text(names, me) == "house battle: DJ Ada won against you (8.00 to 5.00)"
        copy = stored(store, sign(honest, key(903), created_at_ms=published + 2))  # another member's bundle
        assert notices.on_stored(store, copy) is None

        mention = stored(
            store, sign(Post("see you at 9", mentions=(me,)), battle.dj_a, created_at_ms=published + 3)
        )
        assert notices.on_stored(store, mention) is not None
        fan = key(50)
        react = stored(
            store,
            sign(Reaction(mention.content_id, "🔥", target_author=me), fan, created_at_ms=published + 4),
        )
        voucher = ListenVoucher(
            stream=bytes(32), dj=me, chain_id=1, contract="0x" + "11" * 20, channel=1, amount=5,
            signature=bytes(65), binding=bytes(65),
        )  # fmt: skip
        assert (
            notices.on_stored(store, stored(store, sign(voucher, fan, created_at_ms=published + 5))) is None
        )

        listed = notices.listing(store, hidden=set())
        assert [(n.reason, n.envelope.content_id) for n in listed] == [
            ("reaction", react.content_id),
            ("mention", mention.content_id),
            ("result", first.content_id),  # the battle's first verified bundle, once
            ("challenge", battle.id),
        ]
        as_json = listed[2].as_json(names, me)
        assert as_json["reason"] == "result" and as_json["battle_id"] == battle.id.hex()
        assert as_json["winner"] == "a" and as_json["winner_name"] == "DJ Ada"
        assert as_json["author_name"].startswith("…")  # the publisher has no profile
        muted = notices.listing(store, hidden={bytes(fan.verify_key)})
        assert [n.reason for n in muted] == ["mention", "result", "challenge"]
        assert len(notices.listing(store, hidden=set(), limit=2)) == 2


def test_a_viewer_who_joined_hears_the_result_and_a_stranger_does_not(tmp_path: Path) -> None:
    battle = Battle()
    viewer, stranger = battle.viewer_keys[0], key(77)
    bundle = sign(
        build_result(battle.base() + battle.honest_round(scores(400, 700))),
        key(902),
        created_at_ms=battle.spec.reveal_by + 1,
    )
    with Store(tmp_path / "store.sqlite3") as store:
        for envelope in battle.base():
            store.add(envelope)
        store.add(bundle)
        results = VerifiedResults()
        theirs = Notices(bytes(viewer.verify_key), results).on_stored(store, bundle)
        assert theirs is not None and theirs.reason == "result"
        names = PeerNames(store)
        assert theirs.text(names, bytes(viewer.verify_key)).endswith("(7.00 to 4.00)")  # DJ B won
        assert Notices(bytes(stranger.verify_key), results).on_stored(store, bundle) is None
        assert Notices(bytes(stranger.verify_key), results).listing(store, hidden=set()) == []
