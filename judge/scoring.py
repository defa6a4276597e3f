"""Judging: one set's scores from its analysis, and the verdict between two sets.

Scores are per criterion on 0..10 (two decimals). ``total`` mixes the model's judged
score with the crowd's share of the votes at the battle's crowd weight; both DJs get
``crowd`` = 5 when nobody voted.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from djmesh.judge.analysis import Source, analyse
from djmesh.judge.features import JudgeRules, RulesLike, set_features
from djmesh.judge.findings import Finding, find
from djmesh.judge.model import AGGREGATES, JudgeModel, shared_model
from djmesh.judge.pin import JUDGE_SHA256
from djmesh.judge.shared_keys import read_together
from djmesh.protocol.battle import CRITERIA, VERDICT_KEYS, centi_points, winner_of

#: every key of a set's scores, in a stable order: what verdicts carry
SCORE_KEYS: tuple[str, ...] = VERDICT_KEYS


@dataclass(frozen=True)
class Scores:
    values: dict[str, float]
    flags: tuple[str, ...] = ()
    findings: tuple[Finding, ...] = ()  # every penalty with its time, for the DJ (not in verdicts)

    @property
    def total(self) -> float:
        return self.values["total"]


@dataclass(frozen=True)
class Verdict:
    winner: str  # "a" or "b"
    a: Scores
    b: Scores
    model: str  # the judge's pin (``djmesh.judge.pin``), as battle rules name it
    features: dict[str, dict[str, float]] = field(default_factory=dict)

    def centi_scores(self) -> dict[str, dict[str, int]]:
        """The scores as a ``battle_verdict`` carries them (integer centi-points per side)."""
        from djmesh.protocol.consensus import scores_from_judge

        return scores_from_judge({"a": self.a.values, "b": self.b.values})

    def as_json(self) -> dict[str, Any]:
        return {
            "winner": self.winner,
            "scores": {"a": self.a.values, "b": self.b.values},
            "flags": {"a": list(self.a.flags), "b": list(self.b.flags)},
            "findings": {"a": findings_json(self.a), "b": findings_json(self.b)},
            "model": self.model,
        }


def findings_json(scores: Scores) -> list[dict[str, Any]]:
    return [f.as_json() for f in scores.findings]


def _crowd_weight(rules: RulesLike) -> float:
    weight = float(getattr(rules, "crowd_weight", 0.0))
    return min(1.0, max(0.0, weight))


def crowd_share(votes_for: int, votes_against: int) -> float:
    total = votes_for + votes_against
    return 5.0 if total <= 0 else round(10.0 * votes_for / total, 2)


def score_set(
    analysis: Mapping[str, Any],
    rules: RulesLike | None = None,
    *,
    cues: Sequence[float] | None = None,
    crowd: float = 5.0,
    model: JudgeModel | None = None,
) -> Scores:
    """Scores for one analysed set (``djmesh.judge.analysis`` output)."""
    rules = rules or JudgeRules()
    feats = set_features(analysis, rules, cues)
    out = (model or shared_model()).run([feats.values])[0]
    values = {name: out[name] for name in CRITERIA}
    values["technical"], values["musical"] = out["technical"], out["musical"]
    values["crowd"] = round(min(10.0, max(0.0, crowd)), 2)
    w = _crowd_weight(rules)
    values["total"] = round((1.0 - w) * out[AGGREGATES[2]] + w * values["crowd"], 2)
    return Scores(values, feats.flags, find(analysis, rules, cues))


def pick_winner(a: Mapping[str, float], b: Mapping[str, float]) -> str:
    """The winner as the committee will check it: ``protocol.battle.winner_of`` on the centi-points a
    verdict carries (higher total; ties by the finer judged score, technical, rules, then "a")."""
    return winner_of({"a": _centi(a), "b": _centi(b)})


def _centi(values: Mapping[str, float]) -> dict[str, int]:
    return {key: centi_points(v) for key, v in values.items() if key in SCORE_KEYS}


WARM_RATE = 48_000


def warm_up() -> None:
    """Load the model and the compiled analysis kernels with a throwaway verdict: in a fresh process the
    first verdict costs about 0.7 s of CPU more than the next, and a member pays it while the sets still
    play instead of after them, when every second delays the result."""
    noise = np.random.default_rng(0).standard_normal(4 * WARM_RATE).astype(np.float32) * 0.1
    judge_sets((noise, WARM_RATE), (noise, WARM_RATE))


def read_bpm_range(rules: RulesLike) -> tuple[float, float]:
    """The tempi (BPM) a battle's sets are read in: its rules' range and a quarter beyond each end, so that a
    set a little out of range reads at its own tempo (and is judged for it), not at an octave inside."""
    return float(rules.bpm_min) * 0.75, float(rules.bpm_max) * 1.25


def judge_sets(
    set_a: Source | Mapping[str, Any],
    set_b: Source | Mapping[str, Any],
    rules: RulesLike | None = None,
    *,
    cues_a: Sequence[float] | None = None,
    cues_b: Sequence[float] | None = None,
    votes: tuple[int, int] = (0, 0),
) -> Verdict:
    """The verdict between two sets, each a path, (samples, rate) or a finished analysis."""
    rules = rules or JudgeRules()
    bpm_range = read_bpm_range(rules)
    analyses = [
        s if isinstance(s, Mapping) else analyse(s, bpm_range=bpm_range, cues=list(c) if c else None)
        for s, c in ((set_a, cues_a), (set_b, cues_b))
    ]
    analyses = list(read_together(analyses[0], analyses[1]))  # one recording, one key
    model = shared_model()
    a = score_set(analyses[0], rules, cues=cues_a, crowd=crowd_share(votes[0], votes[1]), model=model)
    b = score_set(analyses[1], rules, cues=cues_b, crowd=crowd_share(votes[1], votes[0]), model=model)
    feats = {
        side: set_features(an, rules, cues).as_dict()
        for side, an, cues in (("a", analyses[0], cues_a), ("b", analyses[1], cues_b))
    }
    return Verdict(pick_winner(a.values, b.values), a, b, JUDGE_SHA256, feats)
