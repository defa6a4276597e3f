"""`djmesh node`: a headless node in the foreground, driven through the control API."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Sequence

from djmesh.node.control import ControlServer
from djmesh.node.home import NodeHome
from djmesh.node.node import Node, NodeOptions


async def wait_for_stop_signal() -> None:
    """Returns on SIGINT or SIGTERM, so the caller can shut down gracefully."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)


async def run_daemon(
    home: NodeHome,
    *,
    listen: Sequence[str] | None = None,
    bootstrap: Sequence[str] | None = None,
    passphrase: bytes | None = None,
    http: str | None = None,
) -> int:
    from djmesh.node.battle.control import battle_methods
    from djmesh.node.battle.service import BattleService
    from djmesh.node.http import optional_http_server
    from djmesh.node.live.control import LIVE_METHODS
    from djmesh.node.live.service import LiveService
    from djmesh.node.p2p.netstats import NETWORK_METHODS

    options = NodeOptions(listen=listen, bootstrap=bootstrap, passphrase=passphrase)
    async with (
        Node(home, options=options) as node,
        LiveService(node) as live,
        BattleService(node, live) as battles,
        ControlServer(node, extra_methods={**LIVE_METHODS, **NETWORK_METHODS, **battle_methods(battles)}),
        optional_http_server(http, node, live=live, battles=battles) as web,
    ):
        for address in node.listen_addrs:
            print(address, flush=True)
        if web is not None:
            print(f"{web.url}/", flush=True)  # the overlay is at /overlay
        await wait_for_stop_signal()
    return 0
