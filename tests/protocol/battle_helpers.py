"""A battle with its DJs and committee, signed with fixed keys, for the protocol tests."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import nacl.signing

from djmesh.protocol.battle import (
    VERDICT_KEYS,
    BattleAccept,
    BattleAnnounce,
    BattleJoin,
    Rules,
    Tracklist,
)
from djmesh.protocol.consensus import SealedVerdict, seal_verdict, select_committee
from djmesh.protocol.envelope import SignedEnvelope, sign

T0 = 1_700_000_000_000
MODEL = hashlib.sha256(b"model").digest()


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
    dj_a: nacl.signing.SigningKey = field(default_factory=lambda: key(1))
    dj_b: nacl.signing.SigningKey = field(default_factory=lambda: key(2))

    def __post_init__(self) -> None:
        rules = Rules.for_genre("house", model=MODEL, committee_size=self.committee_size)
        self.spec = BattleAnnounce(
            opponent=bytes(self.dj_b.verify_key),
            rules=rules,
            accept_by=T0 + 10_000,
            join_by=T0 + 20_000,
            start_at=T0 + 30_000,
            commit_seconds=30,
            reveal_seconds=30,
        )
        rules_set = self.spec.rules.set_seconds * 1000
        assert self.spec.sets_end == T0 + 30_000 + 2 * rules_set
        self.announce = sign(self.spec, self.dj_a, created_at_ms=T0)
        self.id = self.announce.content_id
        self.accept = sign(BattleAccept(battle=self.id), self.dj_b, created_at_ms=T0 + 1000)
        self.viewer_keys = [key(100 + i) for i in range(self.viewers)]
        self.joins = [
            sign(BattleJoin(battle=self.id), k, created_at_ms=T0 + 2000 + i)
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
        members = select_committee(
            self.id, [bytes(self.dj_a.verify_key), bytes(self.dj_b.verify_key)],
            [bytes(k.verify_key) for k in self.viewer_keys], self.committee_size,
        )  # fmt: skip
        by_pub = {bytes(k.verify_key): k for k in self.viewer_keys}
        self.members = [by_pub[m] for m in members]

    def base(self) -> list[SignedEnvelope]:
        return [self.announce, self.accept, *self.joins, *self.tracklists]

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
