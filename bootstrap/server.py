"""The bootstrap server: a stable-key libp2p host that helps nodes find each other.

It serves the Kademlia DHT in server mode (nodes store and find provider records through it), a
rendezvous point (nodes register per topic/room and discover each other), and a circuit relay v2
hop (nodes behind NAT reserve a slot and stay reachable). It takes part in no topic itself.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence

from djmesh.node.p2p import P2PHost


async def run_bootstrap(seed: bytes, listen: Sequence[str], on_ready: Callable[[list[str]], None]) -> None:
    """Serve until cancelled; ``on_ready`` gets the full multiaddrs (with ``/p2p/<id>``) once listening.

    Prints nothing itself: the CLI decides what to do with the addresses. Cancellation stops the host
    gracefully (connections closed, no task left behind).
    """
    async with P2PHost(seed=seed, listen=listen, serve_discovery=True) as host:
        on_ready(host.listen_addrs)
        await asyncio.Event().wait()
