"""`tui --demo`'s network in a process of its own, so the app's process only draws.

``python -m djmesh.tui.demo_host ROOT [--http ADDR]`` runs the loopback demo network
(``run_demo``) and a quiet node watching it (``NodeBackend`` with ``demo_root``: it pays for the
sets like a viewer, analyses the DJs' streams, never joins a committee), and serves that node's
control API at ``ROOT/tui-watcher`` with the live feeds (``node.live.feed``); with ``--http``, the
overlay and JSON API too. The app (``DemoBackend``) attaches to it. What happens is told on
stdout, one JSON object a line:

- ``{"alert": [severity, message]}``: demo progress and news, shown as notifications
- ``{"changed": what}``: chat, feed, battle, crews
- ``{"ready": home}``: the control API answers at ``home``
- ``{"failed": why}``: the network did not start

It stops gracefully (nodes flush their stores and say goodbye) when its stdin closes, which is
how the app says it quit (or died); SIGTERM and SIGINT stop it too until the demo, once its
battle is over, takes them for itself. A stop that hangs is cut short after ``STOP_DEADLINE_S``.
One host runs per ``ROOT`` at a time (a lock file): a new one waits for the previous one to
finish stopping.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import json
import logging
import os
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any, TextIO

from djmesh.node.home import NodeHome

log = logging.getLogger(__name__)

WATCHER = "tui-watcher"
STOP_DEADLINE_S = 30.0
LOCK_WAIT_S = 60.0
LOCK_POLL_S = 0.2


class HostBusyError(Exception):
    """Another host still runs in this root."""


def watcher_home(root: Path) -> NodeHome:
    """Where the watching node lives (and its control API answers)."""
    return NodeHome(root / WATCHER)


class Reporter:
    """JSON lines to the app; once the app is gone (a broken pipe) they are dropped."""

    def __init__(self, out: TextIO) -> None:
        self.out = out
        self.open = True

    def say(self, **message: Any) -> None:
        if not self.open:
            return
        try:
            self.out.write(json.dumps(message) + "\n")
            self.out.flush()
        except (OSError, ValueError):
            self.open = False


async def host(root: Path, reporter: Reporter, http: str | None = None) -> int:
    from djmesh.node.control import ControlServer
    from djmesh.tui.cli import served_node_backend
    from djmesh.tui.node_backend import NodeBackend

    kind = served_node_backend(http) if http is not None else NodeBackend
    backend = kind(watcher_home(root), demo_root=root)
    backend.alert = lambda severity, message: reporter.say(alert=[severity, message])
    backend.changed = lambda what: reporter.say(changed=what)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    _on_stdin_closed(lambda: loop.call_soon_threadsafe(stop.set))
    try:
        try:
            await _first(backend.start(), stop)
        except Exception as exc:
            log.warning("demo host did not start: %s", exc, exc_info=True)
            reporter.say(failed=str(exc) or type(exc).__name__)
            return 1
        if stop.is_set():
            return 0
        node, services = backend.node, backend.services
        assert node is not None and services is not None
        # the same methods as `djmesh node` answers: one composition root (node.services)
        async with ControlServer(node, extra_methods=services.control_methods()):
            reporter.say(ready=str(node.home.root))
            await stop.wait()
        return 0
    finally:
        reporter.open = False  # the app has gone: nothing reads us any more
        _deadline(STOP_DEADLINE_S)
        await backend.stop()


async def _first(starting: Any, stop: asyncio.Event) -> None:
    """Run ``starting`` unless a stop comes first (then it is cancelled)."""
    task = asyncio.ensure_future(starting)
    stopping = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait({task, stopping}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopping.cancel()
    if not task.done():
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        return
    task.result()


def _on_stdin_closed(then: Any) -> None:
    """The app holds our stdin open while it runs; EOF means it quit (or died)."""

    def wait() -> None:
        with contextlib.suppress(OSError, ValueError):
            while sys.stdin.buffer.read(4096):
                pass
        then()

    threading.Thread(target=wait, name="stdin", daemon=True).start()


def _deadline(seconds: float) -> None:
    """Leave hard if the graceful stop hangs: a demo host must never outlive its app for long."""
    timer = threading.Timer(seconds, lambda: os._exit(3))
    timer.daemon = True
    timer.start()


@contextlib.contextmanager
def _one_host(root: Path, reporter: Reporter) -> Any:
    """Hold ``ROOT/host.lock`` while running: the stores of a host still stopping are not shared."""
    root.mkdir(parents=True, exist_ok=True)
    with open(root / "host.lock", "w", encoding="utf-8") as lock:
        waited = 0.0
        while True:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if waited == 0.0:
                    reporter.say(alert=["information", "Demo: waiting for the previous demo network to stop"])
                if waited >= LOCK_WAIT_S:
                    raise HostBusyError(f"another demo network still runs in {root}") from None
                time.sleep(LOCK_POLL_S)
                waited += LOCK_POLL_S
        yield


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="python -m djmesh.tui.demo_host")
    parser.add_argument("root", type=Path)
    parser.add_argument("--http", metavar="ADDR")
    args = parser.parse_args(argv)
    root: Path = args.root
    reporter = Reporter(sys.stdout)
    try:
        with _one_host(root, reporter):
            return _run(root, reporter, args.http)
    except HostBusyError as exc:
        reporter.say(failed=str(exc))
        return 1


def _run(root: Path, reporter: Reporter, http: str | None) -> int:
    logging.basicConfig(
        filename=str(root / "host.log"),
        level=logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    logging.getLogger("libp2p").setLevel(logging.WARNING)
    return asyncio.run(host(root, reporter, http))


if __name__ == "__main__":
    sys.exit(main())
