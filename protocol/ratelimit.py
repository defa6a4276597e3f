"""Token buckets per key (an author, a peer) with an explicit clock and bounded memory.

One bucket holds ``burst`` tokens and refills at ``per_second``; the least recently seen
keys are forgotten beyond ``tracked`` (a forgotten key starts again with a full bucket).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Hashable
from dataclasses import dataclass


@dataclass(frozen=True)
class RateLimit:
    """``burst`` messages at once, refilled at ``per_second``."""

    burst: float = 20.0
    per_second: float = 5.0


class KeyedTokenBuckets:
    def __init__(self, limit: RateLimit, *, tracked: int = 10_000) -> None:
        self._limit = limit
        self._tracked = tracked
        self._buckets: OrderedDict[Hashable, tuple[float, int]] = OrderedDict()

    def allow(self, key: Hashable, now_ms: int) -> bool:
        """Take one token for ``key`` if it has one."""
        tokens = self._tokens(key, now_ms)
        allowed = tokens >= 1.0
        self._buckets[key] = (tokens - 1.0 if allowed else tokens, now_ms)
        self._buckets.move_to_end(key)
        while len(self._buckets) > self._tracked:
            self._buckets.popitem(last=False)
        return allowed

    def give_back(self, key: Hashable, now_ms: int) -> None:
        """Return one token taken for ``key`` (what it paid for turned out to be worth it), up to ``burst``."""
        if key not in self._buckets:
            return  # forgotten: it starts again with a full bucket anyway
        self._buckets[key] = (min(self._limit.burst, self._tokens(key, now_ms) + 1.0), now_ms)

    def exhausted(self, key: Hashable, now_ms: int) -> bool:
        """Whether ``key`` has no token now; nothing is taken, and a key not tracked is not added."""
        return key in self._buckets and self._tokens(key, now_ms) < 1.0

    def _tokens(self, key: Hashable, now_ms: int) -> float:
        """``key``'s tokens at ``now_ms``: what it held, refilled since, up to ``burst`` (full if not tracked)."""
        tokens, last_ms = self._buckets.get(key, (self._limit.burst, now_ms))
        return min(self._limit.burst, tokens + max(0, now_ms - last_ms) / 1000 * self._limit.per_second)

    def __len__(self) -> int:
        return len(self._buckets)
