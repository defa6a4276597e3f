"""Running the judge on a battle's two sets, off the event loop.

``judge_in_thread`` is what a member does on its own machine: ``judge_sets`` in a worker thread.
``SharedJudge`` is for many nodes in one process (``djmesh demo``, simulations): the judge is a
pure function (the same samples, cues and rules give the same verdict, the property consensus rests
on), so members that hold the same audio share one computation instead of running it once each on
the same cores. A member whose audio differs by one sample gets its own. Each node still fetches,
verifies and decodes the signed sets itself; only the arithmetic on identical input is shared.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import astuple
from typing import TYPE_CHECKING, Protocol

import numpy as np

from djmesh.protocol.battle import Rules

if TYPE_CHECKING:
    from djmesh.dsp.features import Features
    from djmesh.judge.scoring import Verdict

#: each side's feature pass when it was run while the set arrived (the bytes of a pass over its audio)
SideFeatures = tuple["Features | None", "Features | None"]


class Judge(Protocol):
    """(audio a, audio b, sample rate, rules, cues a, cues b, crowd votes a/b) -> the judge's verdict."""

    async def __call__(
        self,
        audio_a: np.ndarray,
        audio_b: np.ndarray,
        rate: int,
        rules: Rules,
        cues_a: Sequence[float],
        cues_b: Sequence[float],
        votes: tuple[int, int] = (0, 0),
        *,
        features: SideFeatures = (None, None),
    ) -> Verdict: ...


log = logging.getLogger(__name__)

SHARED_VERDICTS = 8  # distinct inputs a shared judge remembers (a battle has one)


async def judge_in_thread(
    audio_a: np.ndarray,
    audio_b: np.ndarray,
    rate: int,
    rules: Rules,
    cues_a: Sequence[float],
    cues_b: Sequence[float],
    votes: tuple[int, int] = (0, 0),
    *,
    features: SideFeatures = (None, None),
) -> Verdict:
    """``features``: a side's feature pass stands in for its audio (the same bytes, less work now)."""
    from djmesh.judge import judge_sets

    return await asyncio.to_thread(
        judge_sets,
        features[0] if features[0] is not None else (audio_a, rate),
        features[1] if features[1] is not None else (audio_b, rate),
        rules,
        cues_a=list(cues_a),
        cues_b=list(cues_b),
        votes=votes,
    )


_warm_lock = threading.Lock()
_warmed = False


def _warm_once() -> None:
    global _warmed
    with _warm_lock:
        if not _warmed:
            from djmesh.judge import warm_up

            warm_up()
            _warmed = True
            log.info("judge warmed up")


async def warm_up_judge() -> None:
    """Makes this process's first verdict cheap (``djmesh.judge.warm_up``), once per process, in a worker
    thread: a member calls it while the sets play, so the verdict after them is not the slow first."""
    if not _warmed:
        await asyncio.to_thread(_warm_once)


def input_key(
    audio_a: np.ndarray,
    audio_b: np.ndarray,
    rate: int,
    rules: Rules,
    cues_a: Sequence[float],
    cues_b: Sequence[float],
    votes: tuple[int, int] = (0, 0),
) -> bytes:
    """A digest of everything the verdict depends on: the samples (with their type and length), the
    rate, the rules, the cues and the crowd's votes."""
    digest = hashlib.sha256()
    for audio in (audio_a, audio_b):
        samples = np.ascontiguousarray(audio)
        digest.update(f"{samples.dtype.str}:{samples.shape}:".encode())
        digest.update(samples.data)
    digest.update(repr((rate, astuple(rules), tuple(cues_a), tuple(cues_b), tuple(votes))).encode())
    return digest.digest()


class SharedJudge:
    """One judge computation per distinct input among the nodes that share this object (one loop)."""

    def __init__(self, judge: Judge = judge_in_thread, capacity: int = SHARED_VERDICTS) -> None:
        self._judge = judge
        self._capacity = capacity
        self._verdicts: OrderedDict[bytes, asyncio.Future[Verdict]] = OrderedDict()
        self.computed = 0  # how many times the judge actually ran

    async def __call__(
        self,
        audio_a: np.ndarray,
        audio_b: np.ndarray,
        rate: int,
        rules: Rules,
        cues_a: Sequence[float],
        cues_b: Sequence[float],
        votes: tuple[int, int] = (0, 0),
        *,
        features: SideFeatures = (None, None),
    ) -> Verdict:
        # the features are a function of the audio: the key need not (and must not) depend on them
        key = await asyncio.to_thread(input_key, audio_a, audio_b, rate, rules, cues_a, cues_b, votes)
        task = self._verdicts.get(key)
        if task is None:
            # a task of its own: a caller cancelled (its attempt timed out) does not cancel the others'
            task = asyncio.ensure_future(
                self._judge(audio_a, audio_b, rate, rules, cues_a, cues_b, votes, features=features)
            )
            task.add_done_callback(lambda done: self._forget_failed(key, done))
            self._verdicts[key] = task
            while len(self._verdicts) > self._capacity:
                self._verdicts.popitem(last=False)
            self.computed += 1
        else:
            self._verdicts.move_to_end(key)
        return await asyncio.shield(task)

    def _forget_failed(self, key: bytes, task: asyncio.Future[Verdict]) -> None:
        """A failure is not remembered: the next caller runs the judge again."""
        if (task.cancelled() or task.exception() is not None) and self._verdicts.get(key) is task:
            del self._verdicts[key]
