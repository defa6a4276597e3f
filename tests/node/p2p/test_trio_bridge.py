"""The trio guest run shares the node's asyncio loop: a burst of trio work must not hold it in one tick."""

from __future__ import annotations

import asyncio
import time

import trio

from djmesh.node.p2p.trio_bridge import (
    _TICKS,
    MAX_DEFERRALS,
    TICK_BUDGET_S,
    GuestTicks,
    TrioBridge,
    yield_if_over_budget,
)
from tests.node.p2p.conftest import run

TASKS = 20
TASK_S = 0.002  # each task holds the thread this long: the burst is 40 ms, eight budgets


def _busy(seconds: float) -> None:
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        pass


async def _burst_as_seen_by_asyncio(bridge: TrioBridge, *, gated: bool) -> list[int]:
    """Run TASKS trio tasks at once; how many had finished each time the asyncio loop got a turn."""
    finished: list[int] = []
    all_done = asyncio.get_running_loop().create_future()

    async def task(index: int) -> None:
        if gated:
            await yield_if_over_budget()
        _busy(TASK_S)
        finished.append(index)
        if len(finished) == TASKS:
            bridge.call_soon_asyncio(all_done.set_result, None)

    async def burst() -> None:
        async with trio.open_nursery() as nursery:
            for index in range(TASKS):
                nursery.start_soon(task, index)

    await bridge.run(trio.sleep, 0.01)  # the guest run is idle, waiting for events
    running = asyncio.ensure_future(bridge.run(burst))
    seen: list[int] = []
    while not all_done.done():
        seen.append(len(finished))
        await asyncio.sleep(0)
    await running
    return seen


def test_a_burst_of_gated_trio_tasks_lets_the_asyncio_loop_run_between_ticks() -> None:
    assert TASK_S * TASKS > 4 * TICK_BUDGET_S

    async def main() -> None:
        bridge = TrioBridge()
        await bridge.start()
        try:
            gated = await _burst_as_seen_by_asyncio(bridge, gated=True)
            ungated = await _burst_as_seen_by_asyncio(bridge, gated=False)
        finally:
            await bridge.stop()
        # gated, the loop ran its own callbacks several times while the burst was under way
        assert len({n for n in gated if 0 < n < TASKS}) >= 3, gated
        # ungated (the reference), the whole burst ran in one tick: the loop never saw it half done
        assert [n for n in ungated if 0 < n < TASKS] == [], ungated

    run(main())


def test_gated_work_goes_on_after_a_few_ticks_however_busy_they_are() -> None:
    """A loaded machine or many nodes in one process make every tick look over budget: the gate puts a
    message off a few ticks, never for ever (gossip then stopped reaching nodes whose peers had sent it)."""

    class AlwaysOver(GuestTicks):
        def spent(self) -> float:
            return 1.0

    async def main() -> int:
        _TICKS.set(AlwaysOver())
        done = trio.Event()
        ticks = 0

        async def gated() -> None:
            await yield_if_over_budget()
            done.set()

        async with trio.open_nursery() as nursery:
            nursery.start_soon(gated)
            while not done.is_set():
                assert ticks < 100, "the gate never let the task go on"
                ticks += 1
                await trio.sleep(0)
        return ticks

    assert 1 <= trio.run(main) <= MAX_DEFERRALS + 2
