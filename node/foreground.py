"""Long-running commands in the foreground (`djmesh demo`, `djmesh node`): Ctrl-C that always stops them.

``asyncio.run`` turns the first Ctrl-C into one cancellation of the main task. Python 3.11's ``asyncio.wait_for``
can swallow a cancellation that lands as the awaited thing finishes, and then the command ran on as if no
Ctrl-C had come (seen under load as a demo that played its battle to the end). Here a stop that has not
finished after ``STOP_GRACE_S`` is logged with every task's stack and the task is cancelled again; a second
Ctrl-C quits at once.
"""

from __future__ import annotations

import asyncio
import io
import logging
import os
import signal
import sys
import threading
from collections.abc import Coroutine
from concurrent.futures import ThreadPoolExecutor
from types import FrameType
from typing import Any, TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")

STOP_GRACE_S = 8.0
INTERRUPTED_EXIT_CODE = 130


class NoWaitExecutor(ThreadPoolExecutor):
    """On Ctrl-C ``asyncio.run`` joins its default executor's threads, so one in a long job (a chain call, a
    proof, a decode) held the exit for tens of seconds. Queued jobs are dropped and a running one is left to
    the process exit (the console command ends with ``os._exit``); everything the node must keep is awaited
    before."""

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        super().shutdown(wait=False, cancel_futures=True)


class _Interrupted:
    """What the main task returns when Ctrl-C stopped it (``run_until_done`` raises KeyboardInterrupt)."""


def task_stacks() -> str:
    """Where every task of the running loop waits: what a stop that does not finish is stuck on."""
    out = io.StringIO()
    for task in asyncio.all_tasks():
        task.print_stack(limit=8, file=out)
    return out.getvalue()


def run_until_done(main: Coroutine[Any, Any, T]) -> T:
    """``asyncio.run(main)``; raises KeyboardInterrupt once Ctrl-C has stopped it."""
    interrupted = threading.Event()

    async def guarded() -> T | _Interrupted:
        loop = asyncio.get_running_loop()
        loop.set_default_executor(NoWaitExecutor())
        task = asyncio.current_task()
        runner_handler = signal.getsignal(signal.SIGINT)
        installed = False

        def stop_again() -> None:
            if task is None or task.done():
                return
            log.warning(
                "still stopping %.0f s after Ctrl-C; cancelling again. Tasks:\n%s",
                STOP_GRACE_S,
                task_stacks(),
            )
            task.cancel()
            loop.call_later(STOP_GRACE_S, stop_again)

        def on_sigint(signum: int, frame: FrameType | None) -> None:
            if interrupted.is_set():  # the second Ctrl-C: quit now
                print("djmesh: stopped at once (second Ctrl-C)", file=sys.stderr, flush=True)
                logging.shutdown()
                os._exit(INTERRUPTED_EXIT_CODE)
            interrupted.set()
            loop.call_soon_threadsafe(loop.call_later, STOP_GRACE_S, stop_again)
            if callable(runner_handler):
                runner_handler(signum, frame)  # asyncio.run's: cancels this task
            elif task is not None:
                loop.call_soon_threadsafe(task.cancel)

        # SIGINT ignored (a background job of a script) stays ignored: stop such a process with SIGTERM
        if threading.current_thread() is threading.main_thread() and runner_handler is not signal.SIG_IGN:
            signal.signal(signal.SIGINT, on_sigint)
            installed = True
        try:
            return await main
        except asyncio.CancelledError:
            if interrupted.is_set():
                return _Interrupted()
            raise
        finally:
            if installed and signal.getsignal(signal.SIGINT) is on_sigint:
                signal.signal(signal.SIGINT, runner_handler)

    result = asyncio.run(guarded())
    if isinstance(result, _Interrupted):
        raise KeyboardInterrupt
    return result
