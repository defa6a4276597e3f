"""Who judges a battle: the roster both DJs signed and a committee seed nobody knew while joining.

- DJ A commits to a 32-byte secret in the announcement, DJ B in the accept (``seed_commit`` =
  SHA-256(context || secret)), both before anyone joins.
- Viewers join by ``join_by``. Then each DJ signs a ``battle_roster``: the viewers whose joins it saw.
  Once a DJ holds both rosters it opens its secret in a ``battle_seed`` naming both rosters.
- The committee is drawn from the viewers on *both* rosters (each member must have a join signed by
  ``join_by``) (each DJ can keep a viewer out, neither
  can put one in alone), ranked by SHA-256(seed || key) with seed = SHA-256(context || battle ||
  secret A || secret B): the first ``committee_size`` serve. A DJ's secret is bound before the
  rosters exist and the other's is unknown until both rosters are fixed, so nobody can aim a roster
  at a seat; both seeds name the same two rosters, so a DJ who signs a second roster cannot use it.

``draw_committee`` checks all of this from envelopes alone (offline), raising ``DrawError`` with the
rule a set of messages breaks; the battle machine and the result verifier both call it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass

from djmesh.protocol.battle import (
    BattleAccept,
    BattleAnnounce,
    BattleJoin,
    BattleRoster,
    BattleSeed,
    battle_djs,
)
from djmesh.protocol.envelope import SignedEnvelope
from djmesh.protocol.errors import ProtocolError

SEED_CONTEXT = b"djmesh/battle-seed/v1\x00"
COMMITTEE_CONTEXT = b"djmesh/committee/v2\x00"


class DrawError(ProtocolError):
    """The messages do not fix a committee (missing, late or disagreeing rosters or seeds)."""


def seed_commitment(secret: bytes) -> bytes:
    """What a DJ publishes (announce / accept) before anyone joins; ``secret`` is 32 random bytes."""
    if len(secret) != 32:
        raise ValueError("a seed secret is 32 bytes")
    return hashlib.sha256(SEED_CONTEXT + secret).digest()


def committee_seed(battle_id: bytes, secret_a: bytes, secret_b: bytes) -> bytes:
    return hashlib.sha256(COMMITTEE_CONTEXT + battle_id + secret_a + secret_b).digest()


def rank_committee(
    seed: bytes, djs: Iterable[bytes], candidates: Iterable[bytes], size: int
) -> tuple[bytes, ...]:
    """The first ``size`` candidates (DJs excluded) by SHA-256(seed || key)."""
    dj_set = set(djs)
    eligible = sorted({c for c in candidates if c not in dj_set and len(c) == 32})
    return tuple(sorted(eligible, key=lambda k: hashlib.sha256(seed + k).digest())[:size])


@dataclass(frozen=True)
class Draw:
    """A fixed committee and the envelopes that prove it."""

    roster: tuple[bytes, ...]  # viewers on both rosters with a timely join, sorted
    seed: bytes
    committee: tuple[bytes, ...]
    evidence: tuple[SignedEnvelope, ...]  # the two rosters, the two seeds, the members' joins


#: an honest DJ opens its seed only if the other DJ's roster keeps at least this share of its own
KEEP_NUM, KEEP_DEN = 2, 3


def roster_kept(mine: Iterable[bytes], theirs: Iterable[bytes]) -> bool:
    """Whether the other DJ's roster keeps at least 2/3 of the viewers on ours (else it vetoed too many:
    an honest DJ withholds its seed and the battle is cancelled rather than judged by a hand-picked few)."""
    own = set(mine)
    return len(own & set(theirs)) * KEEP_DEN >= len(own) * KEEP_NUM


def _in_window(e: SignedEnvelope, spec: BattleAnnounce) -> bool:
    return spec.join_by <= e.created_at_ms <= spec.roster_by


def draw_committee(
    announce: SignedEnvelope,
    accept: SignedEnvelope | None,
    rosters: Iterable[SignedEnvelope],
    seeds: Iterable[SignedEnvelope],
    joins: Iterable[SignedEnvelope],
) -> Draw:
    """The committee these messages fix, or ``DrawError`` naming the rule they break."""
    spec = announce.message
    assert isinstance(spec, BattleAnnounce)
    seeds = list(seeds)
    dj = battle_djs(announce, accept)  # an open challenge's accept is the bound one (the caller's check)
    if accept is None or not isinstance(accept.message, BattleAccept) or accept.author != dj["b"]:
        raise DrawError("no accept by the challenged DJ: no seed commitment of DJ B")
    commits = {"a": spec.seed_commit, "b": accept.message.seed_commit}
    by_id = {r.content_id: r for r in rosters}
    opened: dict[str, dict[tuple[bytes, bytes], bytes]] = {"a": {}, "b": {}}
    for s in seeds:
        m = s.message
        side = next((x for x, k in dj.items() if k == s.author), None)
        if side is None or not isinstance(m, BattleSeed):
            continue
        if not _in_window(s, spec):
            raise DrawError(f"DJ {side.upper()}'s seed was signed outside [join_by, roster_by]")
        if seed_commitment(m.secret) != commits[side]:
            raise DrawError(f"DJ {side.upper()}'s seed does not open its commitment")
        opened[side][m.rosters] = m.secret
    agreed = set(opened["a"]) & set(opened["b"])
    if not opened["a"] or not opened["b"]:
        missing = " and ".join(x.upper() for x in ("a", "b") if not opened[x])
        raise DrawError(f"no seed from DJ {missing}")
    if len(agreed) != 1:
        raise DrawError("the DJs' seeds do not name one pair of rosters")
    pair = next(iter(agreed))
    lists: list[set[bytes]] = []
    used: list[SignedEnvelope] = []
    for side, roster_id in zip(("a", "b"), pair, strict=True):
        r = by_id.get(roster_id)
        if r is None:
            raise DrawError(f"DJ {side.upper()}'s roster named by the seeds is missing")
        if r.author != dj[side] or not isinstance(r.message, BattleRoster):
            raise DrawError(f"the seeds name a roster not signed by DJ {side.upper()}")
        if not _in_window(r, spec):
            raise DrawError(f"DJ {side.upper()}'s roster was signed outside [join_by, roster_by]")
        lists.append(set(r.message.members))
        used.append(r)
    both = sorted((lists[0] & lists[1]) - set(dj.values()))
    seed = committee_seed(announce.content_id, opened["a"][pair], opened["b"][pair])
    committee = rank_committee(seed, dj.values(), both, spec.rules.committee_size)
    if len(committee) < spec.rules.committee_size:
        # a DJ vetoing viewers must not shrink the committee (and its quorum) below 3f + 1
        raise DrawError(
            f"the rosters agree on {len(both)} viewer(s); the committee needs {spec.rules.committee_size}"
        )
    timely = {
        j.author: j for j in joins if isinstance(j.message, BattleJoin) and j.created_at_ms <= spec.join_by
    }
    lacking = [k for k in committee if k not in timely]
    if lacking:
        raise DrawError(f"the rosters seat {len(lacking)} viewer(s) without a join signed by join_by")
    seed_envs = [
        s
        for s in seeds
        if isinstance(s.message, BattleSeed) and s.message.rosters == pair and s.author in dj.values()
    ]
    evidence = (*used, *sorted(seed_envs, key=lambda e: e.content_id), *(timely[k] for k in committee))
    return Draw(tuple(both), seed, committee, evidence)


__all__ = [
    "Draw",
    "DrawError",
    "committee_seed",
    "draw_committee",
    "rank_committee",
    "roster_kept",
    "seed_commitment",
]
