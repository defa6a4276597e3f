"""The real thing: `tui --demo` in a real terminal (tmux), read off the screen, then q."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = [
    pytest.mark.timeout(150),
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


def wait_for_screen(session: str, pattern: str, timeout: float) -> str:
    deadline = time.monotonic() + timeout
    screen = ""
    while time.monotonic() < deadline:
        screen = tmux("capture-pane", "-p", "-t", session)
        if re.search(pattern, screen):
            return screen
        time.sleep(0.5)
    raise AssertionError(f"{pattern!r} never appeared; the screen was:\n{screen}")


def test_demo_battle_shows_live_in_a_real_terminal(tmp_path: Path) -> None:
    launcher = tmp_path / "launch.py"
    launcher.write_text(LAUNCHER)
    session = f"djmesh-tui-{tmp_path.name}"
    root = Path(__file__).resolve().parents[2]
    size = "COLUMNS=130 LINES=45"  # what the app reads, whatever size tmux gave a detached window
    command = f"cd {root} && {size} {sys.executable} {launcher} {tmp_path / 'home'}; echo EXIT=$?; sleep 30"
    # A detached session keeps tmux's default size whatever -x/-y say: size the window, then start.
    tmux("new-session", "-d", "-s", session, "-x", "130", "-y", "45", "sh")
    tmux("resize-window", "-t", session, "-x", "130", "-y", "45")
    tmux("send-keys", "-t", session, command, "Enter")
    try:
        screen = wait_for_screen(session, r"Battle: djmesh demo battle", 60)
        for word in ("BPM", "Key", "Chat", "Peers", "Committee consensus"):
            assert word in screen
        # the DJs' streams arrive and are analysed live: a level in dB and a BPM figure
        screen = wait_for_screen(session, r"BPM\s+1[0-9]{2}\.[0-9]", 60)
        assert re.search(r"-[0-9]+\.[0-9]dB", screen), screen
        tmux("send-keys", "-t", session, "q")
        screen = wait_for_screen(session, r"EXIT=\d+", 30)
        assert "EXIT=0" in screen
        assert "Traceback" not in screen
    finally:
        subprocess.run(["tmux", "kill-session", "-t", session], capture_output=True)
