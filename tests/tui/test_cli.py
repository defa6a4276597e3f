"""The `tui` subcommand: its arguments, attach-or-run, and the import boundary."""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import sys
from pathlib import Path

import pytest

from djmesh.node.control import ControlServer
from djmesh.node.home import NodeHome
from djmesh.tui.app import DjmeshApp
from djmesh.tui.cli import choose_backend, daemon_running, register
from djmesh.tui.control_backend import ControlBackend
from djmesh.tui.demo_backend import DemoBackend
from djmesh.tui.node_backend import NodeBackend
from tests.helpers.network import make_node, wait_until

pytestmark = pytest.mark.timeout(60)


def test_register_adds_tui_with_demo_flag() -> None:
    parser = argparse.ArgumentParser()
    register(parser.add_subparsers())
    args = parser.parse_args(["tui", "--demo"])
    assert args.demo is True and callable(args.handler)
    assert parser.parse_args(["tui"]).demo is False


def test_without_a_daemon_the_node_runs_in_process(tmp_path: Path) -> None:
    home = NodeHome(tmp_path / "home")
    (tmp_path / "home").mkdir()
    (home.root / "control.json").write_text('{"host": "127.0.0.1", "port": 1, "pid": 1, "peer_id": "x"}\n')
    (home.root / "control.token").write_text("stale\n")
    assert not daemon_running(home)  # a stale control.json from a crashed daemon
    assert isinstance(choose_backend(home, demo=False), NodeBackend)
    demo = choose_backend(home, demo=True)
    assert isinstance(demo, DemoBackend) and demo.root == home.root / "demo"  # a child process runs it
    assert demo.home.root != home.root  # never competes with a daemon for the home's store


async def test_attaches_to_a_running_daemon_and_drives_it(tmp_path: Path) -> None:
    async with make_node(tmp_path, "daemon", []) as node, ControlServer(node):
        home = node.home
        assert await asyncio.to_thread(daemon_running, home)
        backend = await asyncio.to_thread(choose_backend, home, demo=False)
        assert isinstance(backend, ControlBackend)
        app = DjmeshApp(backend, watch_peers=False)
        async with app.run_test(size=(120, 40)) as pilot:
            await wait_until(app.ready.is_set, what="attached")
            assert backend.status().peer_id == node.peer_id
            await pilot.press("f", "c", *"posted through the daemon", "enter")
            await wait_until(lambda: any(i.text == "posted through the daemon" for i in node.feed()))
            await pilot.press("escape", "q")
            await pilot.pause()
        assert app.return_code == 0
        assert (home.root / "control.json").exists()  # quitting the app leaves the daemon running


def test_only_the_tui_imports_textual() -> None:
    code = (
        "import sys, djmesh.node.node, djmesh.node.cli, djmesh.node.control, djmesh.node.demo, "
        "djmesh.protocol, djmesh.dsp, djmesh.judge, djmesh.ledger, "
        "djmesh.tui.demo_host, djmesh.tui.node_backend; "  # `tui --demo`'s child: nodes, no drawing
        "assert not [m for m in sys.modules if m == 'textual' or m.startswith('textual.')]"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
