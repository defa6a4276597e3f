"""`djmesh battle challenge --live -` against running nodes: the DJ's set is this command's stdin.

The command hands its stdin to the node through a FIFO and keeps running; when the set window opens the node
plays it for the rules' set length, then stops reading, and the command ends. A viewer receives the set.
"""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import pytest

from tests.helpers.cli import CliRunner
from tests.helpers.daemon import node_process
from tests.helpers.network import PATIENCE
from tests.helpers.sets import write_set
from tests.helpers.stdin_tone import SOURCE, feed_tone

pytestmark = pytest.mark.timeout(240)


def _eventually(check: object, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds * PATIENCE
    while not check():  # type: ignore[operator]
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.5)


def test_a_battle_set_played_live_from_the_commands_stdin(djmesh: CliRunner, tmp_path: Path) -> None:
    dj_a, dj_b, viewer = tmp_path / "dj-a", tmp_path / "dj-b", tmp_path / "viewer"
    with (
        node_process(djmesh, dj_a) as first,
        node_process(djmesh, dj_b, "--bootstrap", first),
        node_process(djmesh, viewer, "--bootstrap", first),
    ):
        b_id = djmesh("--home", str(dj_b), "id").stdout.strip()
        a_id = djmesh("--home", str(dj_a), "id").stdout.strip()
        _eventually(
            lambda: len(djmesh("--home", str(dj_a), "peers", "--json").json()) >= 2, 60, "dj-a's peers"
        )
        # the window before the sets holds one accept (B's node must have the challenge first) and a join
        start_in = int(12 + 4 * PATIENCE)
        proc = subprocess.Popen(
            [
                *djmesh.executable(), "--home", str(dj_a), "battle", "challenge", b_id, "--genre", "house",
                "--tracks", "3", "--set-seconds", "12", "--start-in", str(start_in), "--committee-size", "1",
                "--live", SOURCE, "--json",
            ],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=djmesh.env, cwd=djmesh.cwd,
        )  # fmt: skip
        assert proc.stdin is not None and proc.stdout is not None and proc.stderr is not None
        stdin = proc.stdin

        feeder = feed_tone(stdin, start_in + 120)  # the node reads it at real time
        try:
            first_line = proc.stdout.readline()
            assert first_line, proc.stderr.read().decode()
            battle_id = json.loads(first_line)["battle_id"]
            set_b = write_set(tmp_path / "sets", "b", seconds=14.0)
            _eventually(
                lambda: djmesh("--home", str(dj_b), "battle", "show", battle_id, "--json").returncode == 0,
                20,
                "the challenge at DJ B",
            )
            accepted = djmesh(
                "--home", str(dj_b), "battle", "accept", battle_id, "--set", str(set_b), "--json"
            )
            assert accepted.returncode == 0, accepted.stderr
            # the set is played for its 12 s, then the node stops reading and the command ends by itself
            assert proc.wait(timeout=(start_in + 120) * PATIENCE) == 0
            told = proc.stderr.read().decode()
            assert "the node stopped reading" in told, told
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        feeder.join(timeout=5)

        def a_set_reached_the_viewer() -> bool:
            streams = djmesh("--home", str(viewer), "live", "list", "--json").json()
            return any(s["dj"] == a_id and not s["live"] for s in streams)

        _eventually(a_set_reached_the_viewer, 60, "DJ A's ended live set at the viewer")
