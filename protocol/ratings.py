"""Elo ratings per genre, recomputed from the log of verified battle results.

Every node must compute the same table from the same results, so the math is integer
fixed point (ratings in milli-points, the expected score from an integer exp series):
no floats, no libm, no platform differences. Battles are applied in (start time,
battle ID) order; a battle counts once, from its best verified result (``consensus.preference``:
a DJ's own withdrawal, then a judged result with the most verdicts, then a forfeit for absence, ties
by the canonical result hash; nothing a bundle's publisher picks enters it).

A peer's record (``Record``) adds up its standings: rating, wins, losses and draws per genre
and overall, the average of its agreed total scores (judged battles only: a forfeit has no
scores) and a tier. Tiers follow the rating, everyone starting at 1500 (``TIERS``):

    Bronze < 1550 <= Silver < 1650 <= Gold < 1750 <= Platinum < 1850 <= Diamond

(+16 for beating an equal, so Silver takes a few net wins and Diamond a long run of them);
a peer's overall tier is the one of its best genre rating.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from djmesh.protocol.consensus import Result, preference, verify_bundle_envelope
from djmesh.protocol.envelope import SignedEnvelope
from djmesh.protocol.errors import ProtocolError
from djmesh.protocol.peer_id import peer_id_from_public_key

SCALE = 1000  # milli-points
INITIAL = 1500 * SCALE
K_FACTOR = 32 * SCALE
#: (lowest rating in milli-points, tier), best first; the last one has no floor
TIERS: tuple[tuple[int, str], ...] = (
    (1850 * SCALE, "Diamond"),
    (1750 * SCALE, "Platinum"),
    (1650 * SCALE, "Gold"),
    (1550 * SCALE, "Silver"),
    (-(2**63), "Bronze"),
)
_ONE = 1 << 48  # fixed-point one for the exp series
_LN10_OVER_400 = 0x179_416B_2D3A  # round(ln(10) / 400 * 2**48)


def _exp_fixed(x: int) -> int:
    """exp(x / 2**48) * 2**48 for 0 <= x, by halving until small, Taylor, then squaring."""
    halvings = 0
    while x > _ONE // 8:
        x //= 2
        halvings += 1
    term, total = _ONE, _ONE
    for n in range(1, 14):
        term = term * x // (_ONE * n)
        total += term
    for _ in range(halvings):
        total = total * total // _ONE
    return total


def expected_milli(rating: int, opponent: int) -> int:
    """Elo expected score of ``rating`` against ``opponent`` in 0..1000."""
    diff = max(-800 * SCALE, min(800 * SCALE, opponent - rating))
    power = _exp_fixed(abs(diff) * _LN10_OVER_400 // SCALE)  # 10 ** (|diff| / 400)
    favoured = SCALE * power // (_ONE + power)  # expected score of the weaker side is 1 - this
    return SCALE - favoured if diff > 0 else favoured if diff < 0 else SCALE // 2


def tier_of(rating: int) -> str:
    """The tier of a rating in milli-points (``TIERS``)."""
    return next(name for floor, name in TIERS if rating >= floor)


def _average(score_sum: int, scored: int) -> float | None:
    """Mean agreed total in points out of 10 (scores travel in hundredths); None without a judged battle."""
    return round(score_sum / scored / 100, 2) if scored else None


@dataclass
class Standing:
    peer: bytes
    rating: int = INITIAL
    wins: int = 0
    losses: int = 0
    draws: int = 0
    scored: int = 0  # judged battles (a forfeit carries no scores)
    score_sum: int = 0  # their agreed totals, in hundredths

    @property
    def battles(self) -> int:
        return self.wins + self.losses + self.draws

    @property
    def average_score(self) -> float | None:
        return _average(self.score_sum, self.scored)

    @property
    def tier(self) -> str:
        return tier_of(self.rating)

    def as_json(self) -> dict[str, object]:
        return {
            "peer": peer_id_from_public_key(self.peer),
            "rating": self.rating / SCALE,
            "wins": self.wins,
            "losses": self.losses,
            "draws": self.draws,
            "battles": self.battles,
            "average_score": self.average_score,
            "tier": self.tier,
        }


def _apply(table: dict[bytes, Standing], result: Result) -> None:
    a = table.setdefault(result.djs["a"], Standing(result.djs["a"]))
    b = table.setdefault(result.djs["b"], Standing(result.djs["b"]))
    # Results name a winner (ties are broken by the rules); anything else would count as a draw.
    score_a = {"a": SCALE, "b": 0}.get(result.winner, SCALE // 2)
    e_a = expected_milli(a.rating, b.rating)
    delta = K_FACTOR * (score_a - e_a) // SCALE
    a.rating += delta
    b.rating -= delta
    if result.winner in ("a", "b"):
        winner, loser = (a, b) if result.winner == "a" else (b, a)
        winner.wins += 1
        loser.losses += 1
    else:
        a.draws += 1
        b.draws += 1
    for side, standing in (("a", a), ("b", b)):
        total = (result.scores or {}).get(side, {}).get("total")
        if total is not None:
            standing.scored += 1
            standing.score_sum += total


def ratings(results: Iterable[Result]) -> dict[str, list[Standing]]:
    """Per genre, standings sorted by rating (then peer key) from verified results."""
    first: dict[bytes, Result] = {}
    for r in sorted(results, key=preference):
        first.setdefault(r.battle_id, r)
    tables: dict[str, dict[bytes, Standing]] = {}
    for r in sorted(first.values(), key=lambda r: (r.announce.start_at, r.battle_id)):
        _apply(tables.setdefault(r.announce.rules.genre, {}), r)
    return {
        genre: sorted(table.values(), key=lambda s: (-s.rating, s.peer))
        for genre, table in sorted(tables.items())
    }


@dataclass(frozen=True)
class Record:
    """One peer's standings across genres, with its rank in each (1 = top)."""

    peer: bytes
    genres: dict[str, tuple[int, Standing]]

    @property
    def wins(self) -> int:
        return sum(s.wins for _, s in self.genres.values())

    @property
    def losses(self) -> int:
        return sum(s.losses for _, s in self.genres.values())

    @property
    def draws(self) -> int:
        return sum(s.draws for _, s in self.genres.values())

    @property
    def battles(self) -> int:
        return self.wins + self.losses + self.draws

    @property
    def average_score(self) -> float | None:
        standings = [s for _, s in self.genres.values()]
        return _average(sum(s.score_sum for s in standings), sum(s.scored for s in standings))

    @property
    def rating(self) -> int | None:
        """The best genre rating (milli-points); None before a first battle."""
        return max((s.rating for _, s in self.genres.values()), default=None)

    @property
    def tier(self) -> str | None:
        rating = self.rating
        return tier_of(rating) if rating is not None else None

    def as_json(self) -> dict[str, object]:
        rating = self.rating
        return {
            "peer": peer_id_from_public_key(self.peer),
            "genres": {
                genre: {**standing.as_json(), "rank": rank}
                for genre, (rank, standing) in sorted(self.genres.items())
            },
            "rating": rating / SCALE if rating is not None else None,
            "tier": self.tier,
            "wins": self.wins,
            "losses": self.losses,
            "draws": self.draws,
            "battles": self.battles,
            "average_score": self.average_score,
        }


def record_of(peer: bytes, tables: dict[str, list[Standing]]) -> Record:
    """``peer``'s record from the tables ``ratings`` made (an empty record if it never battled)."""
    genres = {}
    for genre, rows in tables.items():
        for rank, standing in enumerate(rows, 1):
            if standing.peer == peer:
                genres[genre] = (rank, standing)
                break
    return Record(peer, genres)


def verified_results(envelopes: Iterable[SignedEnvelope]) -> list[Result]:
    """The results among ``envelopes`` that verify; the others are skipped."""
    out = []
    for envelope in envelopes:
        try:
            out.append(verify_bundle_envelope(envelope))
        except ProtocolError:
            continue
    return out


def leaderboard_from_store_messages(
    envelopes: Iterable[SignedEnvelope],
) -> dict[str, list[dict[str, object]]]:
    return {
        genre: [s.as_json() for s in rows] for genre, rows in ratings(verified_results(envelopes)).items()
    }
