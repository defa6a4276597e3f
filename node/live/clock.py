"""Wall-clock microseconds: frames carry the DJ's capture time, so latency is measured across nodes."""

from __future__ import annotations

import time


def now_us() -> int:
    return time.time_ns() // 1000
