"""Elo ratings per genre, recomputed from the log of verified battle results.

Every node must compute the same table from the same results, so the math is integer
fixed point (ratings in milli-points, the expected score from an integer exp series):
no floats, no libm, no platform differences. Battles are applied in (start time,
battle ID) order; a battle counts once, from its best verified bundle (see ``_preference``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from djmesh.protocol.consensus import Result, verify_bundle_envelope
from djmesh.protocol.envelope import SignedEnvelope
from djmesh.protocol.errors import ProtocolError
from djmesh.protocol.peer_id import peer_id_from_public_key

SCALE = 1000  # milli-points
INITIAL = 1500 * SCALE
K_FACTOR = 32 * SCALE
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


@dataclass
class Standing:
    peer: bytes
    rating: int = INITIAL
    wins: int = 0
    losses: int = 0
    draws: int = 0

    def as_json(self) -> dict[str, object]:
        return {
            "peer": peer_id_from_public_key(self.peer),
            "rating": self.rating / SCALE,
            "wins": self.wins,
            "losses": self.losses,
            "draws": self.draws,
            "battles": self.wins + self.losses + self.draws,
        }


def _apply(table: dict[bytes, Standing], result: Result) -> None:
    a = table.setdefault(result.djs["a"], Standing(result.djs["a"]))
    b = table.setdefault(result.djs["b"], Standing(result.djs["b"]))
    score_a = SCALE if result.winner == "a" else 0
    e_a = expected_milli(a.rating, b.rating)
    delta = K_FACTOR * (score_a - e_a) // SCALE
    a.rating += delta
    b.rating -= delta
    winner, loser = (a, b) if result.winner == "a" else (b, a)
    winner.wins += 1
    loser.losses += 1


def _preference(r: Result) -> tuple[int, int, int, bytes]:
    """Which bundle of a battle counts: a judged result over a forfeit (a forfeit bundle cannot
    prove a tracklist was never sent), then the one with the most verdicts (a publisher may
    leave reveals out), then the earliest."""
    return (r.forfeit is not None, -r.revealed, r.published_at_ms, r.publisher)


def ratings(results: Iterable[Result]) -> dict[str, list[Standing]]:
    """Per genre, standings sorted by rating (then peer key) from verified results."""
    first: dict[bytes, Result] = {}
    for r in sorted(results, key=_preference):
        first.setdefault(r.battle_id, r)
    tables: dict[str, dict[bytes, Standing]] = {}
    for r in sorted(first.values(), key=lambda r: (r.announce.start_at, r.battle_id)):
        _apply(tables.setdefault(r.announce.rules.genre, {}), r)
    return {
        genre: sorted(table.values(), key=lambda s: (-s.rating, s.peer))
        for genre, table in sorted(tables.items())
    }


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
