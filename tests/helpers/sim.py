"""Waiting on virtual time (node/clock.py): deadlines are exact, so no patience factor is needed."""

from __future__ import annotations

import asyncio
from collections.abc import Callable


async def virtual_wait_until(predicate: Callable[[], bool], *, timeout_s: float, what: str) -> float:
    """Wait for ``predicate`` on the loop's (virtual) clock; the virtual seconds it took."""
    loop = asyncio.get_running_loop()
    start = loop.time()
    while not predicate():
        if loop.time() - start > timeout_s:
            raise AssertionError(f"not within {timeout_s} s of virtual time: {what}")
        await asyncio.sleep(0.05)
    return loop.time() - start
