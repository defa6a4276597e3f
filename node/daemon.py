"""`djmesh node`: a headless node in the foreground, driven through the control API."""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
from collections.abc import Sequence

from djmesh.node.home import NodeHome
from djmesh.node.node import NodeOptions

log = logging.getLogger(__name__)


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
    from djmesh.node.services import CHAIN_COMMANDS, NodeServices

    options = NodeOptions(listen=listen, bootstrap=bootstrap, passphrase=passphrase)
    services = await NodeServices.from_config(home, options=options, control=True, http=http)
    if services.ledger is None:
        print(f"no ledger ({services.no_ledger_reason}); these need one: {CHAIN_COMMANDS}", file=sys.stderr)
    async with services:
        await services.node.social.publish_configured_name()
        for address in services.node.listen_addrs:
            print(address, flush=True)
        if services.web is not None:
            print(f"{services.web.url}/", flush=True)  # the overlay is at /overlay
        await wait_for_stop_signal()
    return 0
