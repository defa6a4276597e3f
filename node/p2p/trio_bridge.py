"""Run trio (py-libp2p's runtime) as a guest inside the node's asyncio loop.

py-libp2p is trio-native while the rest of the node (aiortc, aioquic, the control API) is asyncio.
Trio's guest mode lets both share one thread and one loop: trio schedules its ticks through
``loop.call_soon_threadsafe``, so nothing needs locks and asyncio lag stays sub-millisecond
(see shared/FIELD-NOTES.md). Calls cross the boundary in two directions only:

- asyncio -> trio: ``TrioBridge.run(fn, *args)`` posts a job with ``TrioToken.run_sync_soon``; a
  trio task awaits it and resolves an asyncio future. Cancelling the future cancels the trio job.
  With ``timeout_s`` the asyncio side stops waiting at its deadline even when the trio job does not
  end on cancellation: py-libp2p awaits some clean-ups shielded from cancellation (a stream reset
  after a failed open, a close), and one of those stuck on a stalled connection used to hold the
  caller forever, past the job's own ``trio.fail_after``.
- trio -> asyncio: ``TrioBridge.call_soon_asyncio(cb, *args)`` (``loop.call_soon_threadsafe``).

Each guest tick runs one trio batch (every task runnable at its start) as one callback of the asyncio
loop, however long it takes: py-libp2p spawns a task per gossip message received, so a burst of them
held the loop for tens of ms in one tick. Work that comes in bursts awaits ``yield_if_over_budget()``
first, and continues in a later tick once the current one has run ``TICK_BUDGET_S`` of CPU; it is put
off ``MAX_DEFERRALS`` times at most, so every message is processed within a few ticks.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import time
import weakref
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import outcome
import trio

T = TypeVar("T")

TICK_BUDGET_S = 0.005  # CPU one guest tick spends on work gated by yield_if_over_budget before deferring it
# A deferred task that finds the next tick over budget too is put off again, but only so often: with wall
# time and no bound, a busy machine (ticks preempted past 5 ms) or many nodes in one process (every batch
# over 5 ms before the task's turn) put off gossip processing for ever: 30 nodes in one process, 5-12 of
# them never got a battle announcement their mesh peers had sent them 30 s earlier.
MAX_DEFERRALS = 3


class GuestTicks:
    """The thread's CPU time when the guest run last entered trio from the host loop (this tick's start).

    CPU, not wall time: a tick preempted by the OS has not held the host loop's CPU for that long.
    """

    def __init__(self) -> None:
        self.started = time.thread_time()

    def spent(self) -> float:
        return time.thread_time() - self.started

    def entering(self, fn: Callable[[], object]) -> Callable[[], None]:
        def tick() -> None:
            self.started = time.thread_time()
            fn()

        return tick


_TICKS: trio.lowlevel.RunVar[GuestTicks] = trio.lowlevel.RunVar("djmesh_guest_ticks")


async def yield_if_over_budget(budget_s: float = TICK_BUDGET_S) -> None:
    """Trio side: once this tick has held the host loop for ``budget_s``, go on in a later tick.

    The host loop runs its own ready callbacks (audio, timers, the control API) between two ticks.
    A no-op outside a guest run hosted by ``TrioBridge``."""
    try:
        ticks = _TICKS.get()
    except LookupError:
        return
    for _ in range(MAX_DEFERRALS):
        if ticks.spent() <= budget_s:  # (resumed in a later tick: spent already?)
            return
        await trio.sleep(0)


class BridgeClosedError(RuntimeError):
    """The trio side is not running (never started, or already stopped)."""


class BridgeTimeoutError(TimeoutError):
    """A job did not finish by the caller's deadline (it was cancelled on the trio side; a part of it
    that ignores cancellation may still be running there)."""


class TrioBridge:
    """One trio guest run hosted on the current asyncio loop; jobs run inside a trio nursery."""

    def __init__(self) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None
        self._token: trio.lowlevel.TrioToken | None = None
        self._nursery: trio.Nursery | None = None
        self._done: asyncio.Future[outcome.Outcome[None]] | None = None
        self._closing = False

    @property
    def running(self) -> bool:
        return self._nursery is not None and not self._closing

    async def start(self) -> None:
        """Start the guest run and wait until it accepts jobs."""
        if self._loop is not None:
            raise RuntimeError("a TrioBridge starts once")
        loop = asyncio.get_running_loop()
        self._loop = loop
        self._done = loop.create_future()
        ready: asyncio.Future[None] = loop.create_future()

        def _set_done(result: outcome.Outcome[None]) -> None:
            assert self._done is not None
            if not self._done.done():
                self._done.set_result(result)
            if not ready.done():
                ready.set_exception(BridgeClosedError("trio exited before it was ready"))

        ticks = GuestTicks()

        async def _main() -> None:
            _TICKS.set(ticks)
            self._token = trio.lowlevel.current_trio_token()
            async with trio.open_nursery() as nursery:
                self._nursery = nursery
                loop.call_soon_threadsafe(_resolve, ready, None)
                await trio.sleep_forever()

        trio.lowlevel.start_guest_run(
            _main,
            run_sync_soon_threadsafe=lambda fn: _discard(loop.call_soon_threadsafe(ticks.entering(fn))),
            run_sync_soon_not_threadsafe=lambda fn: _discard(loop.call_soon(ticks.entering(fn))),
            done_callback=_set_done,
            host_uses_signal_set_wakeup_fd=True,
            # The asyncio side owns Ctrl-C; trio must not install its own SIGINT handler.
            restrict_keyboard_interrupt_to_checkpoints=False,
            strict_exception_groups=True,
        )
        await ready

    async def run(self, fn: Callable[..., Awaitable[T]], *args: Any, timeout_s: float | None = None) -> T:
        """Await ``fn(*args)`` in trio from asyncio. Cancellation propagates both ways.

        ``timeout_s``: ``BridgeTimeoutError`` once it has passed, whether or not the trio job ended."""
        if not self.running or self._token is None or self._loop is None:
            raise BridgeClosedError("the libp2p runtime is not running")
        loop = self._loop
        future: asyncio.Future[T] = loop.create_future()
        scope_box: list[trio.CancelScope] = []

        async def _job() -> None:
            with trio.CancelScope() as scope:
                scope_box.append(scope)
                if future.done():  # cancelled before it began
                    return
                try:
                    result = await fn(*args)
                except BaseException as exc:  # handed back to asyncio, never lost in trio
                    if _is_cancellation(exc):
                        loop.call_soon_threadsafe(
                            _fail, future, BridgeClosedError("the libp2p runtime stopped")
                        )
                        raise
                    loop.call_soon_threadsafe(_fail, future, exc)
                    return
                loop.call_soon_threadsafe(_resolve, future, result)
            if scope.cancelled_caught:  # asyncio cancelled it (no-op) or the bridge is stopping
                loop.call_soon_threadsafe(_fail, future, BridgeClosedError("the libp2p runtime stopped"))

        def _spawn() -> None:
            if self._nursery is None or self._closing:
                loop.call_soon_threadsafe(_fail, future, BridgeClosedError("the libp2p runtime stopped"))
                return
            self._nursery.start_soon(_job)

        try:
            self._token.run_sync_soon(_spawn)
        except trio.RunFinishedError as exc:
            raise BridgeClosedError("the libp2p runtime stopped") from exc
        token = self._token

        def _cancel_job() -> None:
            if scope_box:
                with contextlib.suppress(trio.RunFinishedError):
                    token.run_sync_soon(scope_box[0].cancel)

        try:
            done, _ = await asyncio.wait({future}, timeout=timeout_s)
        except asyncio.CancelledError:
            future.cancel()  # a job not started yet sees it and does not start
            _cancel_job()
            raise
        if not done:
            future.cancel()
            _cancel_job()
            raise BridgeTimeoutError(f"no answer from the libp2p runtime in {timeout_s} s")
        return future.result()

    async def start_task(self, fn: Callable[..., Awaitable[None]]) -> None:
        """Trio side: ``nursery.start(fn)`` in the run's own nursery, so ``fn`` outlives its caller."""
        if self._nursery is None or self._closing:
            raise BridgeClosedError("the libp2p runtime stopped")
        await self._nursery.start(fn)

    def spawn(self, fn: Callable[..., Awaitable[None]], *args: Any) -> None:
        """Start a trio background task from asyncio (fire and forget; it dies with the bridge)."""
        if not self.running or self._token is None:
            raise BridgeClosedError("the libp2p runtime is not running")
        nursery = self._nursery
        assert nursery is not None
        self._token.run_sync_soon(functools.partial(nursery.start_soon, fn, *args))

    async def run_asyncio(self, fn: Callable[..., Awaitable[T]], *args: Any) -> T:
        """From trio: await the asyncio coroutine ``fn(*args)``; cancelling the trio side cancels it."""
        loop, token = self._loop, self._token
        if loop is None or token is None or loop.is_closed():
            raise BridgeClosedError("the asyncio loop is gone")
        done = trio.Event()
        tasks: list[asyncio.Future[T]] = []

        def _wake(_: object) -> None:
            with contextlib.suppress(trio.RunFinishedError):
                token.run_sync_soon(done.set)

        async def _call() -> T:
            return await fn(*args)

        def _start() -> None:
            task = loop.create_task(_call())
            tasks.append(task)
            task.add_done_callback(_wake)

        loop.call_soon_threadsafe(_start)
        try:
            await done.wait()
        except trio.Cancelled:
            loop.call_soon_threadsafe(lambda: tasks and tasks[0].cancel())
            raise
        task = tasks[0]
        if task.cancelled():
            raise BridgeClosedError("the asyncio side cancelled the call")
        return task.result()

    def call_soon_asyncio(self, callback: Callable[..., object], *args: Any) -> None:
        """From trio: schedule ``callback(*args)`` on the asyncio loop."""
        if self._loop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(callback, *args)

    async def stop(self) -> None:
        """Cancel every trio task and wait for the guest run to finish. Idempotent."""
        if self._done is None:
            return
        if not self._closing:
            self._closing = True
            if self._nursery is not None and self._token is not None:
                with contextlib.suppress(trio.RunFinishedError):
                    self._token.run_sync_soon(self._nursery.cancel_scope.cancel)
        result = await asyncio.shield(self._done)
        self._nursery = None
        result.unwrap()


def _is_cancellation(exc: BaseException) -> bool:
    """True for trio.Cancelled, or an exception group made only of them (from a cancelled nursery)."""
    if isinstance(exc, trio.Cancelled):
        return True
    if isinstance(exc, BaseExceptionGroup):
        _, rest = exc.split(trio.Cancelled)
        return rest is None
    return False


def _discard(_: object) -> None:
    """Trio's callback hooks return None; asyncio's return a Handle we do not need."""


def _resolve(future: asyncio.Future[T], value: T) -> None:
    if not future.done():
        future.set_result(value)


def _fail(future: asyncio.Future[Any], exc: BaseException) -> None:
    if not future.done():
        future.set_exception(exc)


class _SharedEntry:
    def __init__(self) -> None:
        self.bridge = TrioBridge()
        self.users = 0
        self.lock = asyncio.Lock()


# Trio allows one run per thread, so every host on a loop shares one guest run (refcounted).
_SHARED: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _SharedEntry] = weakref.WeakKeyDictionary()


async def acquire_bridge() -> TrioBridge:
    """The running loop's shared trio runtime, started on first use."""
    loop = asyncio.get_running_loop()
    entry = _SHARED.get(loop)
    if entry is None:
        entry = _SHARED[loop] = _SharedEntry()
    async with entry.lock:
        if not entry.bridge.running:
            await entry.bridge.start()
        entry.users += 1
        return entry.bridge


async def release_bridge(bridge: TrioBridge) -> None:
    """Drop one user of the shared runtime; the last one stops the guest run."""
    loop = asyncio.get_running_loop()
    entry = _SHARED.get(loop)
    if entry is None or entry.bridge is not bridge:
        return
    async with entry.lock:
        entry.users -= 1
        if entry.users > 0:
            return
        if _SHARED.get(loop) is entry:
            del _SHARED[loop]
        await bridge.stop()
