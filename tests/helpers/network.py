"""Real nodes on loopback for multi-node tests."""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import nacl.signing

from djmesh.bootstrap.server import run_bootstrap
from djmesh.node.config import NodeConfig
from djmesh.node.home import NodeHome
from djmesh.node.identity import create_identity
from djmesh.node.node import Node, NodeOptions

LOOPBACK = "/ip4/127.0.0.1/tcp/0"

# How much slower than a quiet developer machine a test machine may be. A deadline only ends a test
# that is stuck; one that passes returns as soon as its condition holds, so headroom costs nothing.
PATIENCE = float(os.environ.get("DJMESH_TEST_PATIENCE", "3"))


async def wait_until(
    predicate: Callable[[], bool], *, timeout: float = 30.0, what: str | Callable[[], str] = "condition"
) -> None:
    """Wait for ``predicate``; fail after ``timeout`` seconds of a quiet machine, scaled by PATIENCE."""
    budget = timeout * PATIENCE
    deadline = time.monotonic() + budget
    while not predicate():
        if time.monotonic() > deadline:
            described = what() if callable(what) else what
            raise AssertionError(f"timed out after {budget:.0f} s waiting for {described}")
        await asyncio.sleep(0.1)


@contextlib.asynccontextmanager
async def bootstrap_server(seed: bytes = bytes(32)) -> AsyncIterator[list[str]]:
    ready: asyncio.Future[list[str]] = asyncio.get_running_loop().create_future()
    task = asyncio.ensure_future(run_bootstrap(seed, [LOOPBACK], lambda addrs: ready.set_result(addrs)))
    try:
        done, _ = await asyncio.wait({task, ready}, timeout=30, return_when=asyncio.FIRST_COMPLETED)
        if task in done:
            task.result()
        yield await asyncio.wait_for(ready, 1)
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def make_home(root: Path, name: str) -> NodeHome:
    """A node home with a deterministic key (so failures reproduce)."""
    home = NodeHome(root / name)
    home.ensure()
    if not home.key_file.exists():
        seed = nacl.signing.SigningKey(name.encode().ljust(32, b"\0")[:32])
        create_identity(home.key_file, seed=bytes(seed))
        home.config_file.write_text(NodeConfig(name=name).to_toml())
    return home


def make_node(root: Path, name: str, bootstrap: list[str]) -> Node:
    return Node(make_home(root, name), options=NodeOptions(listen=[LOOPBACK], bootstrap=bootstrap))


class PeerStacks:
    """One exit stack per peer (its node, then the services on it), all closed side by side.

    Closed one after another, every node still up reacts to each departure (redials, discovery, mesh
    repair) in the one shared trio run: seven battle nodes took 8.4 s to stop that way and 1.5 s together
    (`bench/node_stop.py`, at load ~9).
    """

    def __init__(self) -> None:
        self._stacks: list[contextlib.AsyncExitStack] = []

    def peer(self) -> contextlib.AsyncExitStack:
        """A new peer's stack: enter its node first, then the services that use the node."""
        stack = contextlib.AsyncExitStack()
        self._stacks.append(stack)
        return stack

    async def aclose(self) -> None:
        stacks, self._stacks = self._stacks, []
        outcomes = await asyncio.gather(*(stack.aclose() for stack in stacks), return_exceptions=True)
        for outcome in outcomes:
            if isinstance(outcome, BaseException):
                raise outcome


@contextlib.asynccontextmanager
async def peer_stacks() -> AsyncIterator[PeerStacks]:
    """``PeerStacks`` that close together when the block ends."""
    peers = PeerStacks()
    try:
        yield peers
    finally:
        await peers.aclose()
