"""Waiting on virtual time (node/clock.py): deadlines are exact, so no patience factor is needed."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from djmesh.node.live.subscription import Subscription
from djmesh.node.sim.mesh import LiveMesh, MeshNode, Meter


async def virtual_wait_until(
    predicate: Callable[[], bool], *, timeout_s: float, what: str | Callable[[], str]
) -> float:
    """Wait for ``predicate`` on the loop's (virtual) clock; the virtual seconds it took."""
    loop = asyncio.get_running_loop()
    start = loop.time()
    while not predicate():
        if loop.time() - start > timeout_s:
            described = what() if callable(what) else what
            raise AssertionError(f"not within {timeout_s} s of virtual time: {described}")
        await asyncio.sleep(0.05)
    return loop.time() - start


async def relay_chain(mesh: LiveMesh, meter: Meter | None = None) -> tuple[MeshNode, MeshNode, Subscription]:
    """DJ -> relay -> listener on a mesh of one child per node, joined in that order: the relay, the listener and
    its subscription. ``meter``: the listener's, from before it joins."""
    await mesh.start_stream()
    relay, listener = mesh.add_listeners(2)
    if meter is not None:
        listener.meter = meter
    for node in (relay, listener):
        await mesh.join_all([node], over_s=0.0)
    sub = listener.subscription
    assert sub is not None and sub.path == [relay.address, mesh.dj.address]
    return relay, listener, sub
