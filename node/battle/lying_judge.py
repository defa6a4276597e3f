"""A dishonest committee member, for the demo and tests of consensus: a plug-in, never a production option.

``lying_battles(Liar(...))`` is a ``NodeServices(battles_factory=...)``: a ``BattleService`` whose
sealed verdict is bent before it is committed. The network must still agree on the honest result and
name the liar.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from djmesh.node.battle.service import BattleService
from djmesh.protocol.battle import SIDES, VERDICT_KEYS


@dataclass(frozen=True)
class Liar:
    """How a dishonest committee member bends its verdict."""

    mode: str = "random"  # "random": made-up scores; "flip": swaps the two sides
    seed: int = 0

    def bend(self, scores: dict[str, dict[str, int]]) -> dict[str, dict[str, int]]:
        if self.mode == "flip":
            return {"a": dict(scores["b"]), "b": dict(scores["a"])}
        rng = random.Random(self.seed)
        return {side: {key: rng.randrange(0, 1001) for key in VERDICT_KEYS} for side in SIDES}


class LyingBattleService(BattleService):
    """Judges like everyone, then commits to what ``liar`` makes of the scores."""

    def __init__(self, *args: Any, liar: Liar, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.liar = liar

    def scores_to_seal(self, scores: dict[str, dict[str, int]]) -> dict[str, dict[str, int]]:
        return self.liar.bend(scores)


def lying_battles(liar: Liar) -> Callable[..., BattleService]:
    """A battles factory for ``NodeServices`` whose judge lies as ``liar`` says."""

    def build(*args: Any, **kwargs: Any) -> BattleService:
        return LyingBattleService(*args, liar=liar, **kwargs)

    return build
