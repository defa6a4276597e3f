"""`djmesh --home DIR tui [--demo]`: the terminal UI as a djmesh subcommand (an entry point).

Without a daemon at the home the app runs the node in-process; with one (``control.json``
answers) it attaches through the control API. ``--demo`` starts the loopback demo network
in a child process, with a node of its own inside the demo folder watching the battle (so it
never competes with a daemon for the home's store), and attaches to that node: the app's
process only draws (``demo_backend``).
"""

from __future__ import annotations

import argparse
import contextlib
import logging
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from djmesh.node.cli import CliError, check_http_address
from djmesh.node.errors import ControlError
from djmesh.node.home import NodeHome
from djmesh.node.identity import read_passphrase

if TYPE_CHECKING:
    # The rest is imported where it is used: registering `tui` must not load textual or the node.
    from djmesh.tui.backend import Backend, LogBuffer
    from djmesh.tui.node_backend import NodeBackend

ATTACH_PROBE_S = 3.0


def register(commands: Any) -> None:
    sub = commands.add_parser(
        "tui",
        help="the terminal UI: watch battles live, chat, post, manage your profile",
        description="Open the terminal UI. It runs a node in-process, or attaches to the node daemon "
        "already running at --home. --demo starts the loopback demo network and shows its battle live.",
    )
    sub.add_argument(
        "--demo", action="store_true", help="run the demo network in the background and watch it"
    )
    sub.add_argument("--http", metavar="ADDR", help="the in-process node also serves the overlay and API")
    sub.set_defaults(handler=run)


def daemon_running(home: NodeHome) -> bool:
    """True when a node daemon at ``home`` answers its control API (a stale control.json does not)."""
    import asyncio

    from djmesh.node.control import ControlClient

    if not (home.root / "control.json").exists():
        return False

    async def probe() -> bool:
        try:
            await asyncio.wait_for(
                ControlClient(home, timeout_s=ATTACH_PROBE_S).call("status"), ATTACH_PROBE_S
            )
        except (ControlError, OSError, TimeoutError, ValueError):
            return False
        return True

    return asyncio.run(probe())


def choose_backend(home: NodeHome, *, demo: bool, http: str | None = None) -> Backend:
    from djmesh.node.node import NodeOptions
    from djmesh.tui.control_backend import ControlBackend
    from djmesh.tui.node_backend import NodeBackend

    if demo:
        from djmesh.tui.demo_backend import DemoBackend

        return DemoBackend(home.root / "demo", http=http)
    node_backend = served_node_backend(http) if http is not None else NodeBackend
    if daemon_running(home):
        if http is not None:
            raise CliError(
                "--http: a node daemon runs at this home; serve from it: djmesh node --http ADDR", 2
            )
        return ControlBackend(home)
    return node_backend(home, NodeOptions(passphrase=read_passphrase(None)))


def served_node_backend(address: str) -> type[NodeBackend]:
    """`--http`: the in-process node also serves the web pages, sharing the screens' live meters."""
    from djmesh.node.http import HttpServer
    from djmesh.tui.node_backend import NodeBackend

    class ServedNodeBackend(NodeBackend):
        http: HttpServer | None = None

        async def start(self) -> None:
            await super().start()
            if self.node is not None:
                self.http = HttpServer(
                    self.node,
                    live=self.live,
                    battles=self.battle_service,
                    address=address,
                    meters=self.meters,
                )
                await self.http.start()
                self.alert("information", f"Overlay on {self.http.url}/overlay")

        async def stop(self) -> None:
            if self.http is not None:
                await self.http.stop()
            await super().stop()

    return ServedNodeBackend


@contextlib.contextmanager
def ui_logging(home: NodeHome, buffer: LogBuffer) -> Iterator[None]:
    """While the app owns the terminal, log lines go to the home's log file and the Log screen only."""
    from djmesh.tui.backend import quiet_libp2p

    root = logging.getLogger()
    console = [
        h
        for h in root.handlers
        if isinstance(h, logging.StreamHandler) and not isinstance(h, logging.FileHandler)
    ]
    for handler in console:
        root.removeHandler(handler)
    home.ensure()
    file_handler = logging.FileHandler(home.log_dir / "djmesh.log", encoding="utf-8")
    file_handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    file_handler.setLevel(logging.INFO)
    file_handler.addFilter(quiet_libp2p)
    libp2p = logging.getLogger("libp2p")
    propagate = libp2p.propagate
    libp2p.propagate = True
    old_level = root.level
    root.setLevel(logging.INFO)
    root.addHandler(file_handler)
    root.addHandler(buffer)
    try:
        yield
    finally:
        root.removeHandler(buffer)
        root.removeHandler(file_handler)
        file_handler.close()
        root.setLevel(old_level)
        libp2p.propagate = propagate
        for handler in console:
            root.addHandler(handler)


def run(args: argparse.Namespace) -> int:
    from djmesh.tui.app import DjmeshApp
    from djmesh.tui.backend import LogBuffer

    home: NodeHome = args.home_obj
    buffer = LogBuffer()
    http = getattr(args, "http", None)
    check_http_address(http)
    backend = choose_backend(home, demo=bool(getattr(args, "demo", False)), http=http)
    with ui_logging(home, buffer):
        DjmeshApp(backend, log_buffer=buffer).run()
    return 0
