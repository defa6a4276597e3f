"""`djmesh --home DIR bootstrap --listen MULTIADDR`: a discovery server with a stable key."""

from __future__ import annotations

import argparse
from typing import Any

from djmesh.node import identity as node_identity
from djmesh.node.home import NodeHome


def register(commands: Any) -> None:
    sub = commands.add_parser(
        "bootstrap",
        help="run a bootstrap server (Kademlia DHT server, rendezvous, circuit relay v2)",
        description="Run a bootstrap server. Prints its full multiaddrs, one per line, as soon as it listens.",
    )
    sub.add_argument("--listen", action="append", metavar="MULTIADDR", help="default /ip4/0.0.0.0/tcp/4001")
    sub.set_defaults(handler=_run)


def _load_or_create(home: NodeHome) -> node_identity.Identity:
    """A bootstrap's address is published in other nodes' configs, so its key must persist."""
    home.ensure()
    if home.key_file.exists():
        passphrase = node_identity.read_passphrase(None)
        return node_identity.load_identity(home.key_file, passphrase=passphrase)
    return node_identity.create_identity(home.key_file)


def _run(args: argparse.Namespace) -> int:
    # Imported here: registering the subcommand must not load the networking stack.
    import asyncio

    from djmesh.bootstrap.server import run_bootstrap
    from djmesh.node.daemon import wait_for_stop_signal

    home: NodeHome = args.home_obj
    identity = _load_or_create(home)
    listen = args.listen or ["/ip4/0.0.0.0/tcp/4001"]

    def on_ready(addresses: list[str]) -> None:
        for address in addresses:
            print(address, flush=True)

    async def main() -> None:
        server = asyncio.ensure_future(run_bootstrap(identity.seed, listen, on_ready))
        stop = asyncio.ensure_future(wait_for_stop_signal())
        done, _ = await asyncio.wait({server, stop}, return_when=asyncio.FIRST_COMPLETED)
        for task in (server, stop):
            task.cancel()
        await asyncio.gather(server, stop, return_exceptions=True)
        for task in done:
            if task is server and not task.cancelled() and task.exception() is not None:
                raise task.exception()  # type: ignore[misc]

    asyncio.run(main())
    return 0
