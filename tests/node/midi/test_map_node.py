"""`djmesh midi map` drives a real running node: pads trigger actions, the clock's tempo is declared."""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import mido
import pytest

from djmesh.node.midi.ports import open_output
from djmesh.node.midi.sender import ClockSender
from tests.helpers.cli import CliRunner
from tests.helpers.daemon import node_process
from tests.node.midi.test_jack import IN_PORT, wait_for_port

pytestmark = pytest.mark.timeout(180)

MAPPING = """\
[[bind]]
note = 36
action = "track_change"
title = "Second track"

[[bind]]
cc = 20
channel = 2
action = "post"
text = "hello from the pads"
"""


@pytest.fixture
def daemon(djmesh_midi: CliRunner, tmp_path: Path) -> Iterator[Path]:
    home = tmp_path / "dj"
    with node_process(djmesh_midi, home):
        yield home


def test_mapping_drives_a_running_node(
    jack: dict[str, str], djmesh_midi: CliRunner, daemon: Path, tmp_path: Path
) -> None:
    home = str(daemon)
    started = djmesh_midi("--home", home, "live", "start", "lavfi:sine=frequency=440", "--json")
    assert started.returncode == 0, started.stderr
    stream_id = started.json()["stream_id"]
    mapping = tmp_path / "pads.toml"
    mapping.write_text(MAPPING, encoding="utf-8")
    proc = subprocess.Popen(
        [*djmesh_midi.executable(), "--home", home, "midi", "map", str(mapping), "--seconds", "5", "--json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**djmesh_midi.env, **jack},
        cwd=djmesh_midi.cwd,
    )
    try:
        wait_for_port(IN_PORT)
        out = open_output(IN_PORT)
        sender = ClockSender(lambda status: out.send(mido.Message.from_bytes([status])), 125.0)
        sender.start()
        time.sleep(1.0)
        out.send(mido.Message("note_on", note=36, velocity=100))
        out.send(mido.Message("note_on", note=36, velocity=0))
        out.send(mido.Message("control_change", channel=0, control=20, value=127))  # other channel: nothing
        out.send(mido.Message("control_change", channel=1, control=20, value=127))
        stdout, stderr = proc.communicate(timeout=60)
        sender.stop()
        out.close()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, stderr
    lines = [json.loads(line) for line in stdout.splitlines()]
    actions = [line for line in lines if line["event"] == "action"]
    assert [(a["action"], a["ok"]) for a in actions] == [("track_change", True), ("post", True)], actions
    assert actions[0]["result"] == {"streams": [stream_id]}
    tempo = [line for line in lines if line["event"] == "tempo"]
    assert tempo and tempo[0]["ok"] and tempo[0]["streams"] == [stream_id]
    assert tempo[-1]["bpm"] == pytest.approx(125.0, abs=0.5)
    summary = lines[-1]
    assert summary["event"] == "summary" and summary["actions"] == 2 and summary["failed"] == 0
    assert summary["bpm"] == pytest.approx(125.0, abs=0.5) and summary["running"] is True

    streams = djmesh_midi("--home", home, "live", "list", "--json").json()
    [mine] = [s for s in streams if s["stream_id"] == stream_id]
    assert mine["declared_bpm"] == pytest.approx(125.0, abs=0.5)
    feed = djmesh_midi("--home", home, "feed", "--json").json()
    assert [item["text"] for item in feed] == ["hello from the pads"]


def test_map_says_when_no_node_is_running(djmesh_midi: CliRunner, tmp_path: Path) -> None:
    mapping = tmp_path / "pads.toml"
    mapping.write_text(MAPPING, encoding="utf-8")
    home = tmp_path / "idle"
    assert djmesh_midi("--home", str(home), "init").returncode == 0
    done = djmesh_midi("--home", str(home), "midi", "map", str(mapping), "--seconds", "1")
    assert done.returncode == 1 and "no node is running" in done.stderr
    assert done.stderr.strip().count("\n") == 0 and os.path.exists(mapping)
