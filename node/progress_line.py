"""One status line that rewrites itself on a terminal: how far a long command has got."""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable
from typing import TextIO

CLEAR = "\r\033[K"  # carriage return, erase to the end of the line


class ProgressLine:
    """Shows ``text`` in place of the previous one on ``stream`` (a terminal), at most every
    ``interval_s``; ``clear()`` it before printing anything else to the terminal."""

    def __init__(
        self, stream: TextIO, *, interval_s: float = 0.1, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.stream = stream
        self.interval_s = interval_s
        self.clock = clock
        self._drawn_at: float | None = None

    def show(self, text: str) -> None:
        now = self.clock()
        if self._drawn_at is not None and now - self._drawn_at < self.interval_s:
            return
        self.stream.write(CLEAR + text[: self._width()])
        self.stream.flush()
        self._drawn_at = now

    def _width(self) -> int:
        """The terminal's width less one: a wrapped line could not be rewritten (CR goes back one row)."""
        try:
            columns = os.get_terminal_size(self.stream.fileno()).columns
        except (AttributeError, OSError, ValueError):
            columns = 0
        if columns <= 0:  # not a terminal, or one that does not say: $COLUMNS, else 80
            columns = shutil.get_terminal_size().columns
        return max(10, columns - 1)

    def clear(self) -> None:
        if self._drawn_at is not None:
            self.stream.write(CLEAR)
            self.stream.flush()
            self._drawn_at = None
