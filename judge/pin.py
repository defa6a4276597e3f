"""The judge's pin: the hash battle rules name, over the model *and* the code that reads audio into its input.

A model hash alone let two releases whose analysis reads the same audio differently (a dsp fix, a new
feature rule) sign different scores for one battle under one hash: honest members would look like liars
to each other. The pin therefore also covers ``READING_SHA256``, the digest of what this release's
analysis, features and scoring give for fixed reference battles (``reference_reading``). A change that
moves any of it fails ``tests/judge/test_pin.py`` until the digest is recorded here, and recording it
moves the pin, so releases that judge differently never share one.

This module imports nothing heavy: a node checks a battle's pin before it pays for dsp or onnxruntime.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

#: SHA-256 of ``judge/models/judge.onnx`` (checked when the model loads)
MODEL_SHA256 = "760f1110c88b96254b18398f287f1f0ff0e87d7c57d1e62247c47e88410b2cee"
#: SHA-256 of ``reference_reading()`` as this release computes it
READING_SHA256 = "81a014210432f754ee78873b9fabf0d0d68578811f8a06941a33800d01a8bf30"
#: what battle rules name (``Rules.model``) and verdicts carry: the model and the reading together
JUDGE_SHA256 = hashlib.sha256(
    b"djmesh judge\0" + bytes.fromhex(MODEL_SHA256) + bytes.fromhex(READING_SHA256)
).hexdigest()
JUDGE_PIN = bytes.fromhex(JUDGE_SHA256)


def reference_reading() -> dict[str, Any]:
    """What the judge makes of the reference battles: features, flags, centi-point scores and winner.

    Four pairings cover the judge's paths: a clean set against a train wreck of the same six lmms loops
    read from audio alone, the same with declared tracklists, short tracks (under the segmentation's
    40 s) that are cut by their tracklist as in a short live battle, and a set against its copy with one
    blend 20 ms late, whose fourth track reads another key in each when read alone
    (``judge.shared_keys``: the two plays are read as one).
    """
    from djmesh.judge.scoring import judge_sets
    from djmesh.judge.synth import Defects, SetSpec, build_set, clean, train_wreck
    from djmesh.protocol.battle import Rules

    rules = Rules.for_genre("house")
    full = build_set(clean()), build_set(train_wreck())
    short = (
        build_set(SetSpec(bars_per_track=12, defects=Defects(fade_bars=4))),
        build_set(train_wreck(bars=12)),
    )
    one_late = (
        build_set(SetSpec(bpm=126.0, first_track=22, seed=22)),
        build_set(
            SetSpec(bpm=126.0, first_track=22, seed=22, defects=Defects(phase_ms=20.0, only_transition=3))
        ),
    )
    out: dict[str, Any] = {}
    for name, (good, bad), with_cues in (
        ("audio", full, False),
        ("tracklist", full, True),
        ("short", short, True),
        ("shared", one_late, False),
    ):
        # from the audio, as a committee member judges: judge_sets analyses each set as a battle's rules read it
        verdict = judge_sets(
            (good.samples, good.sample_rate),
            (bad.samples, bad.sample_rate),
            rules,
            cues_a=list(good.cues) if with_cues else None,
            cues_b=list(bad.cues) if with_cues else None,
        )
        out[name] = {
            "features": verdict.features,
            "flags": {"a": list(verdict.a.flags), "b": list(verdict.b.flags)},
            "scores": verdict.centi_scores(),
            "winner": verdict.winner,
        }
    out["bar_chain"] = bar_chain_probe()
    return out


def bar_chain_probe() -> dict[str, list[float | None]]:
    """Bar offsets (``dsp.set_phase.bar_offsets``) of six fixed grids whose third blend enters a beat late, under
    grooves alike (a sequenced set's) and unlike (loops'), with near-tied downbeat cues.

    The reference battles are lmms loops, whose neighbours' grooves are unlike: how alike grooves weigh
    (``set_phase.SAME_GROOVE``) moved a reading of sonic-pi and hydrogen sets and no reference battle.
    """
    import numpy as np

    from djmesh.dsp.beats import BeatGrid
    from djmesh.dsp.set_phase import bar_offsets

    period, span, blend = 50.0, 2000, 800.0
    grids = [BeatGrid(period, 0.0, k * span, (k + 1) * span) for k in range(6)]
    blends: list[tuple[float, float] | None] = [
        ((k + 1) * span - blend / 2, (k + 1) * span + blend / 2) for k in range(5)
    ]
    cues = [
        np.array(row, dtype=np.float64)
        for row in (
            [9, 0, 0, 0],
            [0.6, 0.5, 0, 0],
            [0.4, 0.5, 0, 0],
            [0.5, 0.6, 0, 0],
            [0.3, 0.5, 0, 0],
            [0, 9, 0, 0],
        )
    ]
    low, broad = np.zeros((4, 4)), np.full((4, 4), 0.1)
    low[:, 0], low[3, 2] = 1.0, 0.8  # four on the floor, a kick on the "and" of four
    broad[:, 0], broad[:, 2], broad[1, 3] = (1.4, 1.6, 1.0, 1.8), 0.5, 0.6  # claps on two and four, hats
    alike = np.stack([(b - b.mean()) / b.std() for b in (low, broad)])
    unlike = [np.array([(k + 1) * (i + 3) * 29 % 13 for i in range(32)], dtype=np.float64) for k in range(6)]
    grooves = {
        "alike": [alike] * 3 + [np.roll(alike, 1, axis=1)] * 3,
        "unlike": [((u - u.mean()) / u.std()).reshape(2, 4, 4) for u in unlike],
    }
    return {
        name: [None if x is None else round(x, 9) for x in bar_offsets(grids, blends, cues, list(profiles))]
        for name, profiles in grooves.items()
    }


def reading_digest(reading: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(reading, sort_keys=True).encode()).hexdigest()


if __name__ == "__main__":
    print(reading_digest(reference_reading()))
