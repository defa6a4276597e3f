"""Pacing for our own publishes.

py-libp2p has no backpressure: each peer's outbound queue holds 32 RPCs and drops the rest, and
neighbours count our publishes against their per-topic rate limit. A token bucket on the asyncio
side makes ``publish`` wait instead of letting the library drop.
"""

from __future__ import annotations

import asyncio

from djmesh.node.clock import monotonic, sleep


class TokenBucket:
    """``rate`` tokens per second, at most ``burst`` saved up; ``take`` waits for one (FIFO)."""

    def __init__(self, rate: float, burst: int) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError("rate and burst must be positive")
        self._rate = rate
        self._burst = float(burst)
        self._tokens = float(burst)
        self._stamp: float | None = None  # read on first use: on the clock of the loop that uses it
        self._lock = asyncio.Lock()

    def _refill(self) -> None:
        now = monotonic()
        if self._stamp is None:
            self._stamp = now
        self._tokens = min(self._burst, self._tokens + (now - self._stamp) * self._rate)
        self._stamp = now

    async def take(self) -> None:
        async with self._lock:  # FIFO: publishes leave in the order they were made
            self._refill()
            while self._tokens < 1.0:
                await sleep((1.0 - self._tokens) / self._rate)
                self._refill()
            self._tokens -= 1.0
