"""A battle with its DJs and committee, signed with fixed keys, for the protocol tests."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import nacl.signing

from djmesh.judge.pin import JUDGE_PIN
from djmesh.protocol.battle import (
    VERDICT_KEYS,
    BattleAccept,
    BattleAnnounce,
    BattleBind,
    BattleJoin,
    BattleResult,
    BattleRoster,
    BattleSeed,
    Rules,
    Tracklist,
)
from djmesh.protocol.committee import draw_committee, seed_commitment
from djmesh.protocol.consensus import SealedVerdict, build_result, seal_verdict
from djmesh.protocol.envelope import SignedEnvelope, sign

T0 = 1_700_000_000_000
#: the judge this release runs: a node joins and judges only battles whose rules name it
MODEL = JUDGE_PIN


def key(n: int) -> nacl.signing.SigningKey:
    return nacl.signing.SigningKey(hashlib.sha256(b"key%d" % n).digest())


def scores(total_a: int, total_b: int, base: int = 700) -> dict[str, dict[str, int]]:
    out = {}
    for side, total in (("a", total_a), ("b", total_b)):
        row = dict.fromkeys(VERDICT_KEYS, base)
        row["total"] = total
        row["technical"] = total
        out[side] = row
    return out


@dataclass
class Battle:
    committee_size: int = 4
    viewers: int = 6
    mode: str = "sequential"
    t0: int = T0  # when DJ A announces (ms)
    extra_viewers: tuple[nacl.signing.SigningKey, ...] = ()  # joined after the fixed-key viewers
    dj_a: nacl.signing.SigningKey = field(default_factory=lambda: key(1))
    dj_b: nacl.signing.SigningKey = field(default_factory=lambda: key(2))
    secret_a: bytes = hashlib.sha256(b"secret a").digest()
    secret_b: bytes = hashlib.sha256(b"secret b").digest()
    open: bool = False  # an open challenge: DJ B took it and DJ A bound DJ B's accept (``self.bind``)
    model: bytes = MODEL  # the judge the rules name

    def __post_init__(self) -> None:
        rules = Rules.for_genre("house", model=self.model, committee_size=self.committee_size, mode=self.mode)
        self.spec = BattleAnnounce(
            opponent=b"" if self.open else bytes(self.dj_b.verify_key),
            rules=rules,
            accept_by=self.t0 + 10_000,
            join_by=self.t0 + 20_000,
            start_at=self.t0 + 30_000,
            commit_seconds=30,
            reveal_seconds=30,
            seed_commit=seed_commitment(self.secret_a),
        )
        rules_set = self.spec.rules.set_seconds * 1000
        assert self.spec.sets_end == self.t0 + 30_000 + (2 if self.mode == "sequential" else 1) * rules_set
        self.announce = sign(self.spec, self.dj_a, created_at_ms=self.t0)
        self.id = self.announce.content_id
        self.accept = sign(
            BattleAccept(battle=self.id, seed_commit=seed_commitment(self.secret_b)),
            self.dj_b,
            created_at_ms=self.t0 + 1000,
        )
        self.bind = sign(
            BattleBind(battle=self.id, accept=self.accept.wire), self.dj_a, created_at_ms=self.t0 + 1500
        )
        self.viewer_keys = [key(100 + i) for i in range(self.viewers)] + list(self.extra_viewers)
        self.joins = [
            sign(BattleJoin(battle=self.id), k, created_at_ms=self.t0 + 2000 + i)
            for i, k in enumerate(self.viewer_keys)
        ]
        self.tracklists = [
            sign(
                Tracklist(
                    battle=self.id,
                    titles=tuple(f"t{i}" for i in range(6)),
                    cues_ms=tuple(range(0, 6000, 1000)),
                ),
                dj,
                created_at_ms=self.spec.set_window(side)[0],
            )
            for side, dj in (("a", self.dj_a), ("b", self.dj_b))
        ]
        self.rosters, self.seeds = self.draw_messages([bytes(k.verify_key) for k in self.viewer_keys])
        members = draw_committee(self.announce, self.accept, self.rosters, self.seeds, self.joins).committee
        by_pub = {bytes(k.verify_key): k for k in self.viewer_keys}
        self.members = [by_pub[m] for m in members]

    def draw_messages(
        self, roster_a: list[bytes], roster_b: list[bytes] | None = None
    ) -> tuple[list[SignedEnvelope], list[SignedEnvelope]]:
        """Both DJs' rosters (signed just after join_by) and their seeds naming them."""
        at = self.spec.join_by + 100
        rosters = [
            sign(BattleRoster(battle=self.id, members=tuple(sorted(set(names)))), dj, created_at_ms=at)
            for dj, names in (
                (self.dj_a, roster_a),
                (self.dj_b, roster_b if roster_b is not None else roster_a),
            )
        ]
        pair = (rosters[0].content_id, rosters[1].content_id)
        seeds = [
            sign(BattleSeed(battle=self.id, secret=secret, rosters=pair), dj, created_at_ms=at + 100)
            for dj, secret in ((self.dj_a, self.secret_a), (self.dj_b, self.secret_b))
        ]
        return rosters, seeds

    def base(self) -> list[SignedEnvelope]:
        bind = [self.bind] if self.open else []
        return [self.announce, self.accept, *bind, *self.joins, *self.rosters, *self.seeds, *self.tracklists]

    def seal(
        self, member: nacl.signing.SigningKey, s: dict[str, dict[str, int]], n: int = 0
    ) -> SealedVerdict:
        salt = hashlib.sha256(bytes(member.verify_key) + bytes([n])).digest()
        return seal_verdict(member, self.id, MODEL, s, created_at_ms=self.spec.sets_end + 1000 + n, salt=salt)

    def commit(
        self, member: nacl.signing.SigningKey, sealed: SealedVerdict, late: bool = False
    ) -> SignedEnvelope:
        at = self.spec.commit_by + (5000 if late else -5000)
        return sealed.commit(member, created_at_ms=at)

    def reveal(
        self, member: nacl.signing.SigningKey, sealed: SealedVerdict, late: bool = False
    ) -> SignedEnvelope:
        at = self.spec.reveal_by + (5000 if late else -5000)
        return sealed.reveal(member, created_at_ms=at)

    def honest_round(self, s: dict[str, dict[str, int]]) -> list[SignedEnvelope]:
        out = []
        for m in self.members:
            sealed = self.seal(m, s)
            out += [self.commit(m, sealed), self.reveal(m, sealed)]
        return out


def judged_result(battle: Battle, verdict: dict[str, dict[str, int]] | None = None) -> BattleResult:
    """The honest result: every member commits and reveals ``verdict`` (A 8.0, B 5.0 by default)."""
    envelopes = battle.base()
    for member in battle.members:
        sealed = battle.seal(member, verdict or scores(800, 500))
        envelopes += [battle.commit(member, sealed), battle.reveal(member, sealed)]
    return build_result(envelopes)


def with_winner(result: BattleResult, winner: str) -> BattleResult:
    """``result`` claiming another winner: what a forger publishes (it no longer verifies)."""
    return BattleResult(result.battle, result.messages, winner, result.scores, result.offences)
