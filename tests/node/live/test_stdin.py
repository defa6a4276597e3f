"""`djmesh live start -` against a running `djmesh node`: the CLI streams its own stdin to the node.

A 440 Hz tone piped into the command (`stdin?rate=...`: `-` with raw PCM options) reaches a listener on another node; when stdin ends the command
ends; a raw `-` sent to the control API (which would read the daemon's stdin) is refused in one line.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
from pathlib import Path

import pytest

from djmesh.node.control import ControlClient
from djmesh.node.errors import ControlError
from djmesh.node.home import NodeHome
from tests.helpers.cli import CliRunner
from tests.helpers.daemon import node_process
from tests.helpers.stdin_tone import RATE, SOURCE, feed_tone
from tests.node.live.mesh import dominant_hz, read_audio

pytestmark = pytest.mark.timeout(180)


def test_live_start_dash_streams_the_commands_stdin(djmesh: CliRunner, tmp_path: Path) -> None:
    dj, fan = tmp_path / "dj", tmp_path / "fan"
    with node_process(djmesh, dj) as dj_addr, node_process(djmesh, fan, "--bootstrap", dj_addr):
        proc = subprocess.Popen(
            [
                *djmesh.executable(),
                "--home",
                str(dj),
                "live",
                "start",
                SOURCE,
                "--json",
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=djmesh.env,
            cwd=djmesh.cwd,
        )
        assert proc.stdin is not None and proc.stdout is not None and proc.stderr is not None
        stdin = proc.stdin

        feeder = feed_tone(stdin, 120)  # the node reads it at real time; the feeder stops once it was heard
        try:
            first = proc.stdout.readline()
            assert first, proc.stderr.read().decode()
            stream_id = json.loads(first)["stream_id"]
            listened = djmesh(
                "--home", str(fan), "listen", stream_id, "--seconds", "3",
                "--record", str(tmp_path / "fan.wav"), "--json",
            )  # fmt: skip
            assert listened.returncode == 0, listened.stderr
            assert abs(dominant_hz(read_audio(tmp_path / "fan.wav")[4800:]) - 440) < 3
            # stdin ends: the command ends by itself, having handed all of it to the node
            feeder.stop()
            assert proc.wait(timeout=60) == 0
            feeder.join(timeout=5)
            told = proc.stderr.read().decode()
            assert feeder.seconds_written >= 3, feeder.seconds_written  # what the listener heard, at least
            assert f"stdin ended after {feeder.seconds_written * RATE * 2} bytes" in told, told
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        feeder.join(timeout=5)

        # `-` straight to the control API would read the daemon's stdin: refused, nothing starts
        with pytest.raises(ControlError, match="would read the node's own stdin"):
            asyncio.run(ControlClient(NodeHome(dj)).call("live_start", source="-"))
        with pytest.raises(ControlError, match="would read the node's own stdin"):
            asyncio.run(ControlClient(NodeHome(dj)).call("battle_challenge", peer="anyone", live="-"))
        listing = djmesh("--home", str(dj), "live", "list", "--json").json()
        assert [s["stream_id"] for s in listing] == [stream_id]
