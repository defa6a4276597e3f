"""`tui --demo`: the demo network runs in a child process (``demo_host``); the app attaches to it.

The app's process then only draws and plays: the seven nodes, the ledger and the judging run
elsewhere, so keys answer at once while the battle streams and the committee judges. Quitting
closes the child's stdin and leaves: the child stops its nodes gracefully in the background
(within ``demo_host.STOP_DEADLINE_S``), after the terminal is the user's again.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import subprocess
import sys
from pathlib import Path
from typing import Any

from djmesh.tui.backend import BackendError
from djmesh.tui.control_backend import ControlBackend
from djmesh.tui.demo_host import watcher_home

log = logging.getLogger(__name__)

BOOT_TIMEOUT_S = 300.0  # sets built, a chain deployed, seven nodes up: minutes on a busy machine


class DemoBackend(ControlBackend):
    mode = "demo network (attached)"

    def __init__(self, root: Path, *, http: str | None = None) -> None:
        """``http``: the watching node also serves the overlay and JSON API on that address."""
        super().__init__(watcher_home(root))
        self.root = root
        self.http = http
        self.process: subprocess.Popen[bytes] | None = None
        self._reading: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        with open(self.root / "host.log", "ab") as errors:
            self.process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "djmesh.tui.demo_host",
                    str(self.root),
                    *(["--http", self.http] if self.http else []),
                ],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=errors,
                start_new_session=True,  # the terminal's signals are the app's; we stop it ourselves
            )
        assert self.process.stdout is not None
        loop = asyncio.get_running_loop()
        reader = asyncio.StreamReader(limit=1024 * 1024)
        await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), self.process.stdout)
        ready: asyncio.Future[str] = loop.create_future()
        self._reading = asyncio.ensure_future(self._read(reader, ready))
        try:
            await asyncio.wait_for(asyncio.shield(ready), BOOT_TIMEOUT_S)
        except TimeoutError:
            raise BackendError(
                f"the demo network did not start within {BOOT_TIMEOUT_S:.0f} s (see {self.root / 'host.log'})"
            ) from None
        await super().start()

    async def _read(self, reader: asyncio.StreamReader, ready: asyncio.Future[str]) -> None:
        """The child's JSON lines: notifications and changes for the app, then its readiness."""
        while line := await reader.readline():
            try:
                message: dict[str, Any] = json.loads(line)
            except json.JSONDecodeError:
                log.info("demo host: %s", line.decode(errors="replace").rstrip())
                continue
            if "alert" in message:
                severity, text = message["alert"]
                self.alert(str(severity), str(text))
            elif "changed" in message:
                self.changed(str(message["changed"]))
            elif "ready" in message and not ready.done():
                ready.set_result(str(message["ready"]))
            elif "failed" in message and not ready.done():
                ready.set_exception(BackendError(f"the demo network did not start: {message['failed']}"))
        if not ready.done():
            code = self.process.poll() if self.process else None
            ready.set_exception(
                BackendError(f"the demo network stopped (exit {code}); see {self.root / 'host.log'}")
            )
        else:
            self.alert("error", "The demo network stopped")

    def stopping_note(self) -> str | None:
        if self.process is None or self.process.poll() is not None:
            return None
        return f"djmesh: the demo network stops in the background (pid {self.process.pid})"

    async def stop(self) -> None:
        """Hang up; the child stops its nodes on its own (we do not wait for it)."""
        await super().stop()
        if self._reading is not None:
            self._reading.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._reading
        process = self.process
        if process is not None and process.poll() is None and process.stdin is not None:
            with contextlib.suppress(OSError):
                process.stdin.close()  # the child's cue to stop (a signal may be the demo's to take)
