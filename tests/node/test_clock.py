"""node/clock.py: the real clock, a hand-driven virtual clock, and the virtual-time event loop."""

from __future__ import annotations

import asyncio
import time

import pytest

from djmesh.node import clock
from djmesh.node.clock import (
    REAL_CLOCK,
    VIRTUAL_EPOCH_US,
    VirtualClock,
    VirtualTimeDeadlockError,
    VirtualTimeLoop,
    run_virtual,
)


def test_outside_a_virtual_loop_time_is_the_machines() -> None:
    assert clock.current() is REAL_CLOCK
    assert abs(clock.now_ms() - time.time() * 1000) < 1000
    assert abs(clock.monotonic() - time.monotonic()) < 1


def test_a_hand_driven_clock_wakes_sleepers_in_deadline_order() -> None:
    virtual = VirtualClock()
    woke: list[tuple[str, float]] = []

    async def sleeper(name: str, seconds: float) -> None:
        await virtual.sleep(seconds)
        woke.append((name, virtual.now()))

    async def main() -> None:
        tasks = [
            asyncio.ensure_future(sleeper(n, s)) for n, s in (("late", 5.0), ("early", 1.5), ("mid", 3.0))
        ]
        await asyncio.sleep(0)
        assert virtual.next_deadline() == 1.5
        while virtual.advance_to_next() is not None:
            await asyncio.sleep(0)
            await asyncio.sleep(0)
        await asyncio.gather(*tasks)

    asyncio.run(main())
    assert woke == [("early", 1.5), ("mid", 3.0), ("late", 5.0)]
    assert virtual.next_deadline() is None
    with pytest.raises(ValueError, match="backwards"):
        virtual.advance_to(1.0)


def test_a_cancelled_sleeper_is_skipped() -> None:
    virtual = VirtualClock()

    async def main() -> None:
        task = asyncio.ensure_future(virtual.sleep_until(2.0))
        await asyncio.sleep(0)
        task.cancel()
        await asyncio.sleep(0)
        assert virtual.next_deadline() is None

    asyncio.run(main())


def test_the_virtual_loop_skips_idle_time_and_its_services_see_it() -> None:
    virtual = VirtualClock()
    seen: dict[str, float] = {}

    async def main() -> None:
        loop = asyncio.get_running_loop()
        seen["loop_before"] = loop.time()
        await asyncio.sleep(3600)  # an hour of nothing
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(asyncio.Event().wait(), 90)
        seen["loop_after"] = loop.time()
        seen["monotonic"] = clock.monotonic()
        seen["now_ms"] = clock.now_ms()
        seen["is_virtual"] = clock.current() is virtual

    started = time.perf_counter()
    run_virtual(main(), virtual)
    assert time.perf_counter() - started < 60  # not an hour
    assert seen["loop_before"] == 0.0
    assert seen["loop_after"] == seen["monotonic"] == pytest.approx(3690.0)
    assert seen["now_ms"] == VIRTUAL_EPOCH_US // 1000 + 3_690_000
    assert seen["is_virtual"]


def test_the_virtual_loop_also_wakes_the_clocks_own_sleepers() -> None:
    virtual = VirtualClock()

    async def main() -> float:
        await virtual.sleep(7.25)
        return virtual.now()

    assert run_virtual(main(), virtual) == 7.25


def test_a_loop_that_can_never_wake_says_so_instead_of_hanging() -> None:
    async def main() -> None:
        await asyncio.get_running_loop().create_future()

    with pytest.raises(VirtualTimeDeadlockError):
        run_virtual(main())


def test_runs_repeat_exactly() -> None:
    def trace() -> list[tuple[float, int]]:
        out: list[tuple[float, int]] = []

        async def worker(index: int) -> None:
            for step in range(5):
                await asyncio.sleep(0.01 * ((index * 7 + step * 3) % 5))
                out.append((asyncio.get_running_loop().time(), index))

        async def main() -> None:
            await asyncio.gather(*(worker(i) for i in range(10)))

        loop = VirtualTimeLoop()
        try:
            loop.run_until_complete(main())
        finally:
            loop.close()
        return out

    assert trace() == trace()


def test_work_in_a_thread_costs_no_virtual_time() -> None:
    """A judge decoding in a worker thread must not see deadlines pass while it computes."""

    async def main() -> tuple[float, float, list[str]]:
        loop = asyncio.get_running_loop()
        order: list[str] = []

        async def timer() -> None:
            await asyncio.sleep(1.0)
            order.append("timer")

        pending = asyncio.ensure_future(timer())
        start = loop.time()
        await asyncio.to_thread(time.sleep, 0.3)  # real CPU or I/O in a thread
        order.append("thread")
        took = loop.time() - start
        await pending
        return took, loop.time() - start, order

    took, total, order = run_virtual(main())
    assert took < 0.01, f"the thread's 0.3 real seconds cost {took} virtual seconds"
    assert order == ["thread", "timer"] and total == pytest.approx(1.0)


def test_an_alarm_moves_earlier_never_later_and_fires_once() -> None:
    """The live playout's alarm: a frame due sooner brings it forward; a later due time leaves it be."""

    async def main() -> list[float]:
        fired: list[float] = []
        alarm = clock.Alarm(lambda: fired.append(clock.monotonic()))
        alarm.arm(0.5)
        alarm.arm(0.2)  # earlier: moves
        alarm.arm(0.9)  # later: already due by then, stays at 0.2
        await clock.sleep(1.0)
        alarm.arm(0.3)
        alarm.cancel()
        await clock.sleep(1.0)
        return fired

    assert run_virtual(main()) == [pytest.approx(0.2)]


def test_wait_set_returns_when_set_or_at_the_timeout_and_none_waits_for_the_event() -> None:
    async def main() -> tuple[float, float, float]:
        event = asyncio.Event()
        start = clock.monotonic()
        await clock.wait_set(event, 2.0)
        timed_out = clock.monotonic() - start
        asyncio.get_running_loop().call_later(3.0, event.set)
        await clock.wait_set(event, None)
        woken = clock.monotonic() - start
        await clock.wait_set(event, 5.0)  # set already: no wait
        return timed_out, woken, clock.monotonic() - start

    assert run_virtual(main()) == (pytest.approx(2.0), pytest.approx(5.0), pytest.approx(5.0))
