"""djmesh.judge: scores DJ sets from their analysis with a pinned ONNX model.

API for the node's battle service (imported lazily, so `djmesh` subcommands that never
judge do not pay for dsp and onnxruntime):

- ``analyse(path | (samples, rate)) -> dict``: dsp analysis plus the level curve.
- ``score_set(analysis, rules, cues=..., crowd=...) -> Scores``: one set.
- ``judge_sets(a, b, rules, cues_a=..., cues_b=..., votes=(n_a, n_b)) -> Verdict``:
  ``verdict.as_json()`` for people, ``verdict.centi_scores()`` for a ``battle_verdict``.
- ``warm_up()``: a throwaway verdict, so the first one that counts is not the slow first one.
- ``JUDGE_PIN``: what battle rules must name (``Rules.model``): the model's hash and the digest of what this
  release's analysis reads, together (``djmesh.judge.pin``); ``MODEL_SHA256``: the model file's alone.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "JUDGE_PIN",
    "MODEL_SHA256",
    "JudgeRules",
    "Scores",
    "Verdict",
    "analyse",
    "judge_sets",
    "score_set",
    "warm_up",
]

_WHERE = {
    "analyse": "djmesh.judge.analysis",
    "JudgeRules": "djmesh.judge.features",
    "JUDGE_PIN": "djmesh.judge.pin",
    "MODEL_SHA256": "djmesh.judge.pin",
    "Scores": "djmesh.judge.scoring",
    "Verdict": "djmesh.judge.scoring",
    "judge_sets": "djmesh.judge.scoring",
    "score_set": "djmesh.judge.scoring",
    "warm_up": "djmesh.judge.scoring",
}


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module 'djmesh.judge' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(_WHERE[name]), name)
