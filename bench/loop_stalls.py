"""Where an event loop's lag comes from: sample the loop thread's stack whenever it has not ticked for a while.

A thread wakes every 2 ms; when the loop's last heartbeat (``StallSampler.beat``, called by a ticker on the loop)
is older than ``threshold_ms``, the loop is held by one long piece of work and the thread records the loop
thread's current stack. Python hands the GIL over every few ms, so a callback holding the loop for 50 ms is
sampled about ten times wherever it spends them. ``report`` names the functions seen most: *inclusive* (anywhere
on the stack: which callers hold the loop) and *self* (innermost frame: what actually burns the time).
"""

from __future__ import annotations

import sys
import threading
import time
from collections import Counter
from types import FrameType

SAMPLE_EVERY_S = 0.002


def _where(frame: FrameType) -> str:
    code = frame.f_code
    path = code.co_filename
    for marker in ("/site-packages/", "/work/wt/", "/lib/python3"):
        if marker in path:
            path = path.split(marker, 1)[1]
            break
    return f"{path}:{code.co_name}"


class StallSampler:
    """Stacks of the thread that made it, sampled while its loop is stalled over ``threshold_ms``."""

    def __init__(self, threshold_ms: float) -> None:
        self.threshold_s = threshold_ms / 1000
        self.samples = 0
        self.inclusive: Counter[str] = Counter()
        self.innermost: Counter[str] = Counter()
        self._target = threading.get_ident()
        self._last_beat = time.perf_counter()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="stall-sampler", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def beat(self) -> None:
        self._last_beat = time.perf_counter()

    def _run(self) -> None:
        while not self._stop.wait(SAMPLE_EVERY_S):
            if time.perf_counter() - self._last_beat < self.threshold_s:
                continue
            frame = sys._current_frames().get(self._target)
            if frame is None:
                continue
            self.samples += 1
            self.innermost[_where(frame)] += 1
            seen = set()
            while frame is not None:
                seen.add(_where(frame))
                frame = frame.f_back
            self.inclusive.update(seen)

    def report(self, top: int = 25) -> str:
        lines = [f"{self.samples} samples of the loop held over {self.threshold_s * 1000:.0f} ms"]
        for title, counts in (("inclusive", self.inclusive), ("self", self.innermost)):
            lines.append(f"-- {title}")
            lines += [
                f"{n:6d} {100 * n / max(1, self.samples):5.1f}%  {w}" for w, n in counts.most_common(top)
            ]
        return "\n".join(lines)
