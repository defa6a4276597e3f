"""The real thing: `tui --demo` in a real terminal (tmux), read off the screen, then q."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.helpers.network import PATIENCE

pytestmark = [
    pytest.mark.timeout(450),
    pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed (apt-get install tmux)"),
]

# Until the `tui` entry point is in pyproject.toml, drive the subcommand through its register().
LAUNCHER = """
import argparse, sys
from djmesh.node.home import NodeHome
from djmesh.tui.cli import register
parser = argparse.ArgumentParser()
register(parser.add_subparsers())
args = parser.parse_args(["tui", "--demo"])
args.home_obj = NodeHome.resolve(sys.argv[1])
sys.exit(args.handler(args))
"""


def tmux(*args: str) -> str:
    return subprocess.run(["tmux", *args], check=True, capture_output=True, text=True).stdout


def wait_for_screen(session: str, *patterns: str, timeout: float, too_late: str | None = None) -> str:
    """The first screen on which every pattern appears at once (fails at once if ``too_late`` shows)."""
    deadline = time.monotonic() + timeout
    screen = ""
    while time.monotonic() < deadline:
        screen = tmux("capture-pane", "-p", "-t", session)
        if all(re.search(pattern, screen) for pattern in patterns):
            return screen
        if too_late is not None and re.search(too_late, screen):
            break
        time.sleep(0.5)
    raise AssertionError(f"{patterns!r} never appeared together; the screen was:\n{screen}")


def demo_hosts(home: Path) -> list[int]:
    """The demo host processes started for ``home`` (their command line names it)."""
    found = subprocess.run(["pgrep", "-f", f"djmesh.tui.demo_host {home}"], capture_output=True, text=True)
    return [int(pid) for pid in found.stdout.split()]


def alive(pid: int) -> bool:
    """A process that has not exited (a zombie waiting for its reaper has)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False
    return "State:\tZ" not in status


def listening_log(home: Path) -> str:
    """What the demo host logged about its listeners (cut off, vouchers, lost streams): why the meters stayed dark."""
    try:
        lines = (home / "demo" / "host.log").read_text(errors="replace").splitlines()
    except OSError as exc:
        return f"(no demo host log: {exc})"
    wanted = re.compile(r"listen(_seller|_payer)?:|meters|cut off|overdue|not received live")
    return (
        "the demo host's log on listening:\n"
        + "\n".join(line for line in lines if wanted.search(line))[-6000:]
    )


def test_demo_battle_shows_live_in_a_real_terminal(tmp_path: Path) -> None:
    launcher = tmp_path / "launch.py"
    launcher.write_text(LAUNCHER)
    session = f"djmesh-tui-{os.getpid()}-{tmp_path.name}"  # unique: other runs may use tmux now
    root = Path(__file__).resolve().parents[2]
    size = "COLUMNS=130 LINES=45"  # what the app reads, whatever size tmux gave a detached window
    command = f"cd {root} && {size} {sys.executable} {launcher} {tmp_path / 'home'}; echo EXIT=$?; sleep 30"
    # A detached session keeps tmux's default size whatever -x/-y say: size the window, then start.
    tmux("new-session", "-d", "-s", session, "-x", "130", "-y", "45", "sh")
    tmux("resize-window", "-t", session, "-x", "130", "-y", "45")
    tmux("send-keys", "-t", session, command, "Enter")
    try:
        # The header comes first; the panels fill in over the next frames.
        labels = ("BPM", "Key", "Chat", "Peers", "Committee consensus")
        wait_for_screen(
            session, r"Battle: djmesh demo battle", *map(re.escape, labels), timeout=180 * PATIENCE
        )
        # The DJs' streams arrive and are analysed live: a BPM figure and a level in dB, on one screen. Not
        # necessarily the same DJ's: one stream may arrive seconds before the other on a loaded machine, and
        # DJ B's clipped train-wreck may read 0.0dB.
        live = (r"BPM\s+1[0-9]{2}\.[0-9]", r"-[0-9]+\.[0-9]dB")
        try:
            # A result on screen means the sets are over: no live figures to wait for.
            wait_for_screen(session, *live, timeout=120 * PATIENCE, too_late=r"Result\s+DJ")
        except AssertionError as exc:
            raise AssertionError(f"{exc}\n{listening_log(tmp_path / 'home')}") from None
        tmux("send-keys", "-t", session, "q")
        screen = wait_for_screen(session, r"EXIT=\d+", timeout=30 * PATIENCE)
        assert "EXIT=0" in screen
        assert "Traceback" not in screen
        # The demo network ran in a child process; it stops on its own once the app has gone.
        found = re.search(r"the demo network stops in the background \(pid (\d+)\)", screen)
        # The app names the child only if it still runs at `q`; on a loaded machine it may have ended first.
        hosts = [int(found.group(1))] if found else demo_hosts(tmp_path / "home")
        deadline = time.monotonic() + 90 * PATIENCE
        while any(alive(host) for host in hosts):
            assert time.monotonic() < deadline, f"the demo host {hosts} still runs after the app quit"
            time.sleep(0.5)
    finally:
        subprocess.run(["tmux", "kill-session", "-t", session], capture_output=True)
