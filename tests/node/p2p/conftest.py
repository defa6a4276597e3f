"""Helpers for tests that run real libp2p hosts on loopback inside one asyncio loop."""

from __future__ import annotations

import asyncio
import gc
import socket
import warnings
from collections.abc import Awaitable, Callable, Coroutine
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from djmesh.node.p2p import P2PHost

# Generous: CI machines are shared and slow; a healthy run takes a fraction of this.
TEST_TIMEOUT_S = 60.0


def run(coro: Coroutine[Any, Any, None], timeout: float = TEST_TIMEOUT_S) -> None:
    """Run ``coro`` on a fresh loop, failing on a timeout or on any warning it leaves behind."""

    async def _main() -> None:
        await asyncio.wait_for(coro, timeout)

    before = _open_inet_sockets()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        asyncio.run(_main())
        gc.collect()
    leaked = _open_inet_sockets() - before
    assert not leaked, f"sockets left open after the hosts stopped: {leaked}"


def _open_inet_sockets() -> set[str]:
    """Open TCP/UDP sockets still referenced anywhere (a stopped host must close all of its own)."""
    return {
        repr(obj)
        for obj in gc.get_objects()
        if isinstance(obj, socket.socket)
        and obj.fileno() != -1
        and obj.family in (socket.AF_INET, socket.AF_INET6)
    }


async def wait_for(predicate: Callable[[], bool], timeout: float = 20.0, interval: float = 0.05) -> None:
    """Poll ``predicate`` until true; assert on timeout (networks converge in heartbeats, not instants)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"condition not met within {timeout} s")
        await asyncio.sleep(interval)


async def eventually(check: Callable[[], Awaitable[bool]], timeout: float = 20.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not await check():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"condition not met within {timeout} s")
        await asyncio.sleep(0.1)


def seed(n: int) -> bytes:
    return bytes([n]) * 32


async def sender_and_receiver(sender: P2PHost, receiver: P2PHost, topic: str) -> list[bytes]:
    """``receiver`` dials ``sender``, both join ``topic`` and mesh; what ``receiver`` is delivered, as it comes."""
    await receiver.connect(sender.listen_addrs[0])
    got: list[bytes] = []
    await sender.subscribe(topic, lambda d, p: True, lambda d, p: None)
    await receiver.subscribe(topic, lambda d, p: True, lambda d, p: got.append(d))
    await wait_for(lambda: sender.mesh_peers(topic) == [receiver.peer_id])
    return got
