"""`djmesh live start -`: the CLI's own stdin, streamed to the running node through a FIFO.

The node runs in another process, so its stdin is not the user's. The CLI makes a FIFO in a private
temporary directory (mode 0700), passes its path as the source (raw PCM, with the user's ``?rate=&channels=``
options), and copies its stdin into it until stdin ends, the node stops reading, or the user presses Ctrl-C.
The node reads the FIFO as it reads any raw PCM pipe (``capture.open_source``); the control API only
listens on 127.0.0.1, so the node is on this machine. Imports nothing heavy (the CLI loads it).
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from types import TracebackType

CHUNK_BYTES = 64 * 1024
#: how often the pump looks for the node to open the FIFO (a writer cannot open before a reader)
OPEN_POLL_S = 0.05
STDIN_SOURCES = ("-", "stdin")


def is_stdin(source: str) -> bool:
    """``-`` or ``stdin``, with or without raw PCM options."""
    return source.partition("?")[0] in STDIN_SOURCES


class StdinPipe:
    """A FIFO fed from ``stdin_fd`` by a thread, from the moment the node opens it.

    ``with StdinPipe("rate=44100") as pipe: call(source=pipe.source); pipe.wait()``.
    """

    def __init__(self, query: str = "", stdin_fd: int = 0) -> None:
        self.query = query
        self.stdin_fd = stdin_fd
        self.copied = 0  # bytes handed to the node
        self.ended = ""  # why the copy stopped: "stdin ended" or "the node stopped reading"
        self._stop = threading.Event()
        self._dir: Path | None = None
        self._thread: threading.Thread | None = None

    @property
    def path(self) -> Path:
        assert self._dir is not None, "use StdinPipe in a with block"
        return self._dir / "stdin.pcm"

    @property
    def source(self) -> str:
        """What the node is told to stream: the FIFO, as raw PCM with the user's options."""
        return str(self.path) + (f"?{self.query}" if self.query else "")

    def __enter__(self) -> StdinPipe:
        self._dir = Path(tempfile.mkdtemp(prefix="djmesh-stdin-"))  # 0700: only this user's node reads it
        os.mkfifo(self.path, 0o600)
        self._thread = threading.Thread(target=self._pump, name="djmesh-stdin", daemon=True)
        self._thread.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=1.0)
        if self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)

    def wait(self) -> str:
        """Block until the copy ends; why it ended."""
        assert self._thread is not None
        while self._thread.is_alive():
            self._thread.join(timeout=0.5)  # short joins, so Ctrl-C reaches the main thread
        return self.ended

    def _open_for_writing(self) -> int | None:
        while not self._stop.is_set():
            try:
                fd = os.open(self.path, os.O_WRONLY | os.O_NONBLOCK)
            except OSError as exc:
                if exc.errno != errno.ENXIO:  # ENXIO: the node has not opened it yet
                    raise
                time.sleep(OPEN_POLL_S)
                continue
            os.set_blocking(fd, True)
            return fd
        return None

    def _pump(self) -> None:
        fd = self._open_for_writing()
        if fd is None:
            return
        try:
            while not self._stop.is_set():
                chunk = os.read(self.stdin_fd, CHUNK_BYTES)
                if not chunk:
                    self.ended = "stdin ended"
                    return
                view = memoryview(chunk)
                while view:
                    written = os.write(fd, view)
                    view = view[written:]
                self.copied += len(chunk)
        except BrokenPipeError:
            self.ended = "the node stopped reading"
        finally:
            with contextlib.suppress(OSError):
                os.close(fd)


def play_stdin(source: str, start: Callable[[str], None]) -> int:
    """The CLI side of ``-`` (``live start -``, ``battle … --live -``): ``start`` hands the node the FIFO's
    source (and says what it started); then this command copies its stdin until the node stops reading or
    stdin ends, and says which."""
    import sys

    with StdinPipe(source.partition("?")[2], sys.stdin.fileno()) as pipe:
        start(pipe.source)
        sys.stdout.flush()
        ended = pipe.wait()
    print(f"{ended or 'stopped'} after {pipe.copied} bytes", file=sys.stderr)
    return 0
