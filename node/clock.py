"""One clock for node/: monotonic seconds, wall time and sleeping, either real or virtual.

Services read time through ``current()`` (or the shorthands ``monotonic()``, ``now_ms()``,
``now_us()``, ``now_s()``) and sleep through ``sleep()`` and ``wait_set()``; tests/node/test_one_clock.py
checks that no service reads the machine's clocks directly. The clock is injected with the event loop: code running
on a ``VirtualTimeLoop`` sees that loop's ``VirtualClock``, everything else the real clock. That
reaches every timer on the loop, including those inside libraries (``asyncio.wait_for``,
``call_later``), which a parameter threaded through our own classes could not, and it lets many
nodes in one process share one deterministic timeline (see ``djmesh.node.sim``).

A ``VirtualClock`` can also be driven by hand, without its loop: ``sleep_until`` parks a
coroutine until ``advance_to_next()`` reaches its deadline.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import heapq
import itertools
import selectors
import time
from collections.abc import Callable, Coroutine, Mapping
from concurrent.futures import Executor
from typing import Any, Protocol, TypeVar, TypeVarTuple

T = TypeVar("T")
Ts = TypeVarTuple("Ts")

# 2027-01-15 08:00:00 UTC: virtual wall time starts at a fixed, plausible date, so runs repeat.
VIRTUAL_EPOCH_US = 1_800_000_000_000_000
THREAD_POLL_S = 0.05  # real seconds between looks at the clock while a worker thread holds it still


class Clock(Protocol):
    def now(self) -> float:
        """Monotonic seconds (only differences mean anything)."""

    def wall_us(self) -> int:
        """Microseconds since the Unix epoch (what signed messages and frame stamps carry)."""

    async def sleep(self, seconds: float) -> None: ...

    async def sleep_until(self, deadline: float) -> None:
        """Return once ``now() >= deadline``."""


class RealClock:
    """The machine's clocks and asyncio's sleep."""

    def now(self) -> float:
        return time.monotonic()

    def wall_us(self) -> int:
        return time.time_ns() // 1000

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)

    async def sleep_until(self, deadline: float) -> None:
        await asyncio.sleep(max(0.0, deadline - time.monotonic()))


class VirtualClock:
    """Time that moves only when told to: by hand, or by a ``VirtualTimeLoop`` when every task waits."""

    def __init__(self, start: float = 0.0, *, wall_epoch_us: int = VIRTUAL_EPOCH_US) -> None:
        self._now = start
        self._wall_epoch_us = wall_epoch_us
        self._sleepers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._order = itertools.count()  # equal deadlines wake in the order they were set

    def now(self) -> float:
        return self._now

    def wall_us(self) -> int:
        return self._wall_epoch_us + round(self._now * 1_000_000)

    async def sleep(self, seconds: float) -> None:
        await self.sleep_until(self._now + seconds)

    async def sleep_until(self, deadline: float) -> None:
        if deadline <= self._now:
            await asyncio.sleep(0)
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._sleepers, (deadline, next(self._order), future))
        await future  # cancelled sleepers stay in the heap until their deadline passes; they are skipped

    def next_deadline(self) -> float | None:
        """The earliest deadline a sleeper waits for (None: nobody sleeps on this clock)."""
        while self._sleepers and self._sleepers[0][2].done():
            heapq.heappop(self._sleepers)
        return self._sleepers[0][0] if self._sleepers else None

    def advance_to(self, when: float) -> None:
        """Move time forward to ``when`` and wake every sleeper due by then (in deadline order)."""
        if when < self._now:
            raise ValueError(f"time does not run backwards ({when} < {self._now})")
        self._now = when
        while self._sleepers and self._sleepers[0][0] <= when:
            _, _, future = heapq.heappop(self._sleepers)
            if not future.done():
                future.set_result(None)

    def advance(self, seconds: float) -> None:
        self.advance_to(self._now + seconds)

    def advance_to_next(self) -> float | None:
        """Jump to the next pending deadline and wake its sleepers; None if nobody sleeps."""
        deadline = self.next_deadline()
        if deadline is not None:
            self.advance_to(deadline)
        return deadline


class VirtualTimeDeadlockError(RuntimeError):
    """Every task waits, no timer is due and no file descriptor is ready: nothing can ever happen."""


class _VirtualSelector(selectors.BaseSelector):
    """A real selector polled without blocking; where the loop would block, virtual time jumps instead."""

    def __init__(self, clock: VirtualClock) -> None:
        self._clock = clock
        self._inner = selectors.DefaultSelector()
        self.threads_busy = 0  # executor jobs running: virtual time waits for them

    def register(self, fileobj: Any, events: int, data: Any = None) -> selectors.SelectorKey:
        return self._inner.register(fileobj, events, data)

    def unregister(self, fileobj: Any) -> selectors.SelectorKey:
        return self._inner.unregister(fileobj)

    def modify(self, fileobj: Any, events: int, data: Any = None) -> selectors.SelectorKey:
        return self._inner.modify(fileobj, events, data)

    def get_map(self) -> Mapping[Any, selectors.SelectorKey]:
        return self._inner.get_map()

    def close(self) -> None:
        self._inner.close()

    def select(self, timeout: float | None = None) -> list[tuple[selectors.SelectorKey, int]]:
        if timeout is not None and timeout <= 0:
            return []  # callbacks are ready: real descriptors wait for the next idle moment (saves a syscall)
        events = self._inner.select(0)
        if events:
            return events
        if self.threads_busy:
            # A worker thread is computing: its result must not arrive "late" on the virtual timeline,
            # so time stands still (the loop's self-pipe wakes us when the thread hands its result over).
            return self._inner.select(THREAD_POLL_S if timeout is None else min(timeout, THREAD_POLL_S))
        now = self._clock.now()
        wake = [t for t in (self._clock.next_deadline(),) if t is not None]
        if timeout is not None:
            wake.append(now + timeout)
        if not wake:
            raise VirtualTimeDeadlockError("virtual time: every task waits and no timer is set")
        self._clock.advance_to(max(now, min(wake)))
        return []


class VirtualTimeLoop(asyncio.SelectorEventLoop):
    """An event loop whose time is a ``VirtualClock``: idle waits cost no real time and runs repeat.

    Work in worker threads (``asyncio.to_thread``, ``run_in_executor``) costs no virtual time, like the
    loop's own CPU: while a job runs, the clock does not move. (Real sockets and subprocesses still do
    not mix with it: their answers would arrive at an arbitrary virtual time.)
    """

    def __init__(self, clock: VirtualClock | None = None) -> None:
        self.clock = clock if clock is not None else VirtualClock()
        self._virtual_selector = _VirtualSelector(self.clock)
        super().__init__(self._virtual_selector)

    def run_in_executor(
        self, executor: Executor | None, func: Callable[[*Ts], T], *args: *Ts
    ) -> asyncio.Future[T]:
        future = super().run_in_executor(executor, func, *args)
        self._virtual_selector.threads_busy += 1

        def finished(_: asyncio.Future[T]) -> None:
            self._virtual_selector.threads_busy -= 1

        future.add_done_callback(finished)
        return future

    def time(self) -> float:
        return self.clock.now()


class SkewedClock:
    """Another clock as a machine whose wall clock is off sees it: set ``offset_s`` wrong, running
    ``drift_ppm`` fast (negative: slow). Monotonic time and sleeping are the base clock's: a skewed
    machine still waits the right length of time, it just stamps and reads dates wrongly."""

    def __init__(self, base: Clock, offset_s: float = 0.0, drift_ppm: float = 0.0) -> None:
        self.base = base
        self.offset_s = offset_s
        self.drift_ppm = drift_ppm
        self._origin = base.now()

    def now(self) -> float:
        return self.base.now()

    def wall_us(self) -> int:
        drift_s = (self.base.now() - self._origin) * self.drift_ppm / 1_000_000
        return self.base.wall_us() + round((self.offset_s + drift_s) * 1_000_000)

    async def sleep(self, seconds: float) -> None:
        await self.base.sleep(seconds)

    async def sleep_until(self, deadline: float) -> None:
        await self.base.sleep_until(deadline)


REAL_CLOCK = RealClock()

# A clock of one simulated node among many sharing a loop (node/sim/): set in the context its tasks
# and its network callbacks run in, it overrides the loop's clock for that node alone.
_NODE_CLOCK: contextvars.ContextVar[Clock | None] = contextvars.ContextVar("djmesh_node_clock", default=None)


def set_node_clock(clock: Clock | None) -> None:
    """Give the current context (and every task and callback created from it from now on) its own clock."""
    _NODE_CLOCK.set(clock)


def current() -> Clock:
    """This node's clock: its own if it was given one (``set_node_clock``), else the running loop's
    (virtual on a ``VirtualTimeLoop``), else the machine's."""
    own = _NODE_CLOCK.get()
    if own is not None:
        return own
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        return REAL_CLOCK
    return loop.clock if isinstance(loop, VirtualTimeLoop) else REAL_CLOCK


def monotonic() -> float:
    return current().now()


def now_us() -> int:
    return current().wall_us()


def now_ms() -> int:
    return current().wall_us() // 1000


def now_s() -> float:
    """Wall time in seconds since the Unix epoch (what ``time.time()`` would say on this node's clock)."""
    return current().wall_us() / 1_000_000


async def sleep(seconds: float) -> None:
    """Sleep on this node's clock (virtual in the simulator): what services call instead of ``asyncio.sleep``."""
    await current().sleep(seconds)


async def wait_set(event: asyncio.Event, timeout_s: float | None) -> None:
    """Until ``event`` is set or ``timeout_s`` passes on the loop's clock (virtual in the simulator): how a
    service sleeps until its next deadline unless something wakes it first (``None``: no deadline).

    ``asyncio.timeout`` rather than ``wait_for``: one timer and no extra task per wait, which the
    simulator pays for every node at once (bench/scale.py).
    """
    if event.is_set():
        return
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(None if timeout_s is None else max(0.0, timeout_s)):
            await event.wait()


class Alarm:
    """A callback at a due time on the running loop's clock (virtual in the simulator), moved earlier
    when an earlier one is asked for: how a service acts at its next due time without a task waking
    and a timer set per wait (the live playout calls back once per frame this way)."""

    def __init__(self, callback: Callable[[], None]) -> None:
        self._callback = callback
        self._handle: asyncio.TimerHandle | None = None

    def arm(self, delay_s: float) -> None:
        """Call back in ``delay_s`` seconds (at once, if not positive) unless already due by then."""
        loop = asyncio.get_running_loop()
        when = loop.time() + max(0.0, delay_s)
        if self._handle is not None:
            if self._handle.when() <= when:
                return
            self._handle.cancel()
        self._handle = loop.call_at(when, self._fire)

    def cancel(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None

    def _fire(self) -> None:
        self._handle = None
        self._callback()


def run_virtual(main: Coroutine[Any, Any, T], clock: VirtualClock | None = None) -> T:
    """Run ``main`` to completion on a fresh ``VirtualTimeLoop`` (like ``asyncio.run``)."""
    loop = VirtualTimeLoop(clock)
    try:
        return loop.run_until_complete(main)
    finally:
        try:
            pending = [task for task in asyncio.all_tasks(loop) if not task.done()]
            for task in pending:
                task.cancel()
            if pending:
                loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
            loop.run_until_complete(loop.shutdown_asyncgens())
        finally:
            loop.close()
