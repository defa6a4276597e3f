"""A judge shared by the nodes of one process: one computation per distinct input, never a wrong share."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import numpy as np
import pytest

from djmesh.dsp.features import PcmFeed
from djmesh.node.battle.judging import SharedJudge, SideFeatures, input_key, judge_in_thread
from djmesh.protocol.battle import Rules
from tests.helpers.audio import chord_progression, drum_pattern

RULES = Rules.for_genre("house", tracks=2, set_seconds=4)


class CountingJudge:
    """Stands in for ``judge_sets`` to count runs; each verdict names its run and the input it saw."""

    def __init__(self) -> None:
        self.runs = 0
        self.release = asyncio.Event()
        self.fail_next = False

    async def __call__(
        self,
        a: np.ndarray,
        b: np.ndarray,
        rate: int,
        rules: Rules,
        ca: Sequence[float],
        cb: Sequence[float],
        votes: tuple[int, int] = (0, 0),
        *,
        features: SideFeatures = (None, None),
    ) -> Any:
        self.runs += 1
        run = self.runs
        await self.release.wait()
        if self.fail_next:
            self.fail_next = False
            raise RuntimeError("judge failed")
        return (run, float(a.sum()), float(b.sum()), tuple(ca), tuple(cb))


def _audio(seed: int) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal(48_000).astype(np.float32)


async def test_members_with_the_same_audio_share_one_run_and_others_get_their_own() -> None:
    fake = CountingJudge()
    shared = SharedJudge(fake)
    a, b = _audio(1), _audio(2)
    calls = [shared(a.copy(), b.copy(), 48_000, RULES, [0.0, 2.0], [0.0, 2.0]) for _ in range(5)]
    one_sample_off = a.copy()
    one_sample_off[100] += 1e-3
    calls.append(shared(one_sample_off, b, 48_000, RULES, [0.0, 2.0], [0.0, 2.0]))
    calls.append(shared(a, b, 48_000, RULES, [0.0, 2.5], [0.0, 2.0]))  # other cues
    tasks = [asyncio.ensure_future(c) for c in calls]
    await asyncio.sleep(0.05)
    fake.release.set()
    verdicts = await asyncio.gather(*tasks)
    assert fake.runs == shared.computed == 3
    assert len(set(verdicts[:5])) == 1
    assert verdicts[5] != verdicts[0] and verdicts[5][1] == pytest.approx(float(one_sample_off.sum()))
    assert verdicts[6] != verdicts[0] and verdicts[6][3] == (0.0, 2.5)


async def test_a_failed_run_is_not_shared_later_and_a_cancelled_member_stops_nobody() -> None:
    fake = CountingJudge()
    shared = SharedJudge(fake)
    a, b = _audio(3), _audio(4)
    fake.fail_next = True
    first = asyncio.ensure_future(shared(a, b, 48_000, RULES, [], []))
    await asyncio.sleep(0.05)
    fake.release.set()
    with pytest.raises(RuntimeError, match="judge failed"):
        await first
    fake.release.clear()
    quitter = asyncio.ensure_future(shared(a, b, 48_000, RULES, [], []))
    stayer = asyncio.ensure_future(shared(a, b, 48_000, RULES, [], []))
    await asyncio.sleep(0.05)
    quitter.cancel()  # its attempt timed out: the run goes on for the member still waiting
    fake.release.set()
    verdict = await stayer
    assert quitter.cancelled()
    assert fake.runs == 2 and verdict[0] == 2


def test_the_key_covers_sample_type_and_length() -> None:
    a, b = _audio(5), _audio(6)
    key = input_key(a, b, 48_000, RULES, [], [])
    assert key == input_key(a.copy(), b.copy(), 48_000, RULES, [], [])
    assert key != input_key(a.astype(np.float64), b, 48_000, RULES, [], [])
    assert key != input_key(a[:-1], b, 48_000, RULES, [], [])
    assert key != input_key(b, a, 48_000, RULES, [], [])
    assert key != input_key(a, b, 44_100, RULES, [], [])
    assert key != input_key(a, b, 48_000, Rules.for_genre("techno", tracks=2, set_seconds=4), [], [])


async def test_a_feature_pass_run_while_the_sets_arrived_gives_the_verdict_of_their_audio() -> None:
    """A member that ran the feature pass as the sets arrived commits what one that judged the stored
    sets commits: the same scores and the same findings."""
    sets = []
    for bpm in (124.0, 127.0):
        drums, _ = drum_pattern(bpm, 30.0, style="house", start=0.05, sr=48_000)
        sets.append((drums + chord_progression(57, True, 30.0, sr=48_000)).astype(np.float32))
    features = []
    for audio in sets:
        feed = PcmFeed(48_000)
        for start in range(0, audio.size, 48_000):  # one-second segments, as decoded
            feed.feed(audio[start : start + 48_000])
        features.append(feed.finish(audio.size))
    rules = Rules.for_genre("house", tracks=2, set_seconds=30)
    cues = ([0.0, 14.0], [0.0, 15.0])
    whole = await judge_in_thread(sets[0], sets[1], 48_000, rules, *cues)
    fed = await judge_in_thread(sets[0], sets[1], 48_000, rules, *cues, features=(features[0], features[1]))
    assert fed.centi_scores() == whole.centi_scores()
    assert fed.as_json() == whole.as_json()
