"""A whole battle offline, the way the node's battle service will run it: the state machine
drives, committee members judge the received audio with the pinned model, commit, reveal;
one of them lies; the bundle verifies and the leaderboard moves."""

from __future__ import annotations

import hashlib

from djmesh.judge.pin import JUDGE_PIN, JUDGE_SHA256
from djmesh.judge.scoring import judge_sets
from djmesh.judge.synth import BuiltSet, Defects, SetSpec, build_set
from djmesh.protocol.battle import (
    BattleAccept,
    BattleAnnounce,
    BattleJoin,
    BattleMachine,
    BattleRoster,
    BattleSeed,
    Finished,
    JudgeNow,
    Received,
    RevealNow,
    Rules,
    TallyNow,
    Tick,
    Tracklist,
)
from djmesh.protocol.committee import seed_commitment
from djmesh.protocol.consensus import build_result, seal_verdict, verify_result
from djmesh.protocol.envelope import SignedEnvelope, sign
from djmesh.protocol.peer_id import peer_id_from_public_key
from djmesh.protocol.ratings import leaderboard_from_store_messages
from tests.protocol.battle_helpers import T0, key, scores

SECRET_A = hashlib.sha256(b"dj a's seed").digest()
SECRET_B = hashlib.sha256(b"dj b's seed").digest()


def _tracklist(battle: bytes, built: BuiltSet) -> Tracklist:
    cues = tuple(int(round(c * 1000)) for c in built.cues)
    return Tracklist(battle=battle, titles=tuple(f"track {i + 1}" for i in range(len(cues))), cues_ms=cues)


def test_battle_from_announce_to_leaderboard() -> None:
    dj_a, dj_b = key(1), key(2)
    viewers = [key(200 + i) for i in range(5)]
    rules = Rules.for_genre("house", model=JUDGE_PIN, set_seconds=120, committee_size=4)
    spec = BattleAnnounce(
        opponent=bytes(dj_b.verify_key),
        rules=rules,
        accept_by=T0 + 1000,
        join_by=T0 + 2000,
        start_at=T0 + 3000,
        seed_commit=seed_commitment(SECRET_A),
    )
    announce = sign(spec, dj_a, created_at_ms=T0)
    battle = announce.content_id
    machines = {bytes(v.verify_key): BattleMachine(announce) for v in viewers}
    published: list[SignedEnvelope] = [
        sign(
            BattleAccept(battle=battle, seed_commit=seed_commitment(SECRET_B)), dj_b, created_at_ms=T0 + 500
        ),
        *(sign(BattleJoin(battle=battle), v, created_at_ms=T0 + 1500) for v in viewers),
    ]
    # after join_by both DJs sign the joins they saw, then open their seeds naming both rosters
    everyone = tuple(sorted(bytes(v.verify_key) for v in viewers))
    rosters = [
        sign(BattleRoster(battle=battle, members=everyone), dj, created_at_ms=spec.join_by + 100)
        for dj in (dj_a, dj_b)
    ]
    pair = (rosters[0].content_id, rosters[1].content_id)
    published += rosters
    published += [
        sign(BattleSeed(battle=battle, secret=secret, rosters=pair), dj, created_at_ms=spec.join_by + 200)
        for dj, secret in ((dj_a, SECRET_A), (dj_b, SECRET_B))
    ]
    # DJ A plays a clean short set, DJ B a sloppy one (tempo drifts, beats late, gain jumps)
    set_a = build_set(SetSpec(bars_per_track=12, defects=Defects(fade_bars=4)))
    set_b = build_set(
        SetSpec(
            bars_per_track=12,
            first_track=4,
            defects=Defects(fade_bars=4, tempo_spread=0.04, phase_ms=120, gain_jump_db=6),
            seed=3,
        )
    )
    published += [
        sign(_tracklist(battle, set_a), dj_a, created_at_ms=spec.set_window("a")[0]),
        sign(_tracklist(battle, set_b), dj_b, created_at_ms=spec.set_window("b")[0]),
    ]

    def deliver(envelopes: list[SignedEnvelope], now: int) -> dict[bytes, list[object]]:
        out: dict[bytes, list[object]] = {}
        for member, machine in machines.items():
            actions: list[object] = []
            for e in envelopes:
                actions += machine.handle(Received(e), now)
            actions += machine.handle(Tick(), now)
            out[member] = actions
        return out

    deliver(published[:-2], spec.join_by + 300)  # accept, joins, rosters and seeds, in time
    deliver(published[-2:], spec.start_at)  # the tracklists as the sets start
    deliver([], spec.set_window("b")[0])
    actions = deliver([], spec.sets_end)
    committee = next(a for a in actions[bytes(viewers[0].verify_key)] if isinstance(a, JudgeNow)).committee
    by_pub = {bytes(v.verify_key): v for v in viewers}
    liar = committee[-1]

    # every member judges what it received (here: the same audio, so one judgement serves)
    cues = [[c / 1000 for c in e.message.cues_ms] for e in published if isinstance(e.message, Tracklist)]
    verdict = judge_sets(
        (set_a.samples, set_a.sample_rate),
        (set_b.samples, set_b.sample_rate),
        rules,
        cues_a=cues[0],
        cues_b=cues[1],
    )
    assert verdict.winner == "a" and verdict.model == JUDGE_SHA256
    sealed = {}
    for i, member in enumerate(committee):
        centi = verdict.centi_scores() if member != liar else scores(100, 950)
        salt = hashlib.sha256(b"salt" + member).digest()
        sealed[member] = seal_verdict(
            by_pub[member], battle, rules.model, centi, created_at_ms=spec.sets_end + 10 + i, salt=salt
        )
    commits = [s.commit(by_pub[m], created_at_ms=spec.sets_end + 100) for m, s in sealed.items()]
    # every member has committed: reveals open at once, long before the commit deadline
    actions = deliver(commits, spec.sets_end + 200)
    assert all(any(isinstance(a, RevealNow) for a in acts) for acts in actions.values())
    reveals = [s.reveal(by_pub[m], created_at_ms=spec.sets_end + 300) for m, s in sealed.items()]
    actions = deliver(reveals, spec.sets_end + 400)
    tally_now = next(a for a in actions[committee[0]] if isinstance(a, TallyNow))

    bundle = sign(build_result(tally_now.messages), by_pub[committee[0]], created_at_ms=spec.commit_by + 300)
    result = verify_result(bundle.wire)
    assert result.winner == "a"
    assert [(o.peer, o.kind) for o in result.offences] == [(liar, "outlier")]
    assert result.scores is not None and result.scores["a"] == verdict.centi_scores()["a"]
    finished = deliver([bundle], spec.commit_by + 400)
    assert all(any(isinstance(a, Finished) for a in acts) for acts in finished.values())
    board = leaderboard_from_store_messages([bundle])["house"]
    assert (
        board[0]["peer"] == peer_id_from_public_key(bytes(dj_a.verify_key)) and board[0]["rating"] == 1516.0
    )
