"""`djmesh live start|stop|list` and `djmesh listen` against two real `djmesh node` processes."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers.cli import CliRunner
from tests.helpers.daemon import node_process
from tests.helpers.network import PATIENCE
from tests.node.live.mesh import dominant_hz, read_audio

pytestmark = pytest.mark.timeout(180)


def test_live_start_listen_stop_through_the_cli(djmesh: CliRunner, tmp_path: Path) -> None:
    dj, fan = tmp_path / "dj", tmp_path / "fan"
    with node_process(djmesh, dj) as dj_addr, node_process(djmesh, fan, "--bootstrap", dj_addr):
        started = djmesh("--home", str(dj), "live", "start", "lavfi:sine=frequency=440", "--title", "warm-up")
        assert started.returncode == 0, started.stderr
        stream_id = started.stdout.strip().splitlines()[-1]
        assert len(stream_id) == 64
        listened = djmesh(
            "--home",
            str(fan),
            "listen",
            stream_id,
            "--seconds",
            "3",
            "--record",
            str(tmp_path / "fan.wav"),
            "--json",
        )
        assert listened.returncode == 0, listened.stderr
        stats = listened.json()
        assert {"latency_ms", "lost_frames", "hops", "bitrate"} <= set(stats)
        # the low-latency playout: 150 ms on a quiet machine, far from verified playout's second and more
        assert stats["hops"] == 1 and stats["latency_ms"] < 150 * PATIENCE and stats["bitrate"] > 100_000
        assert abs(dominant_hz(read_audio(tmp_path / "fan.wav")[4800:]) - 440) < 3
        verified = djmesh(
            "--home", str(fan), "listen", stream_id, "--seconds", "3", "--verified-playout", "--json"
        )
        assert verified.returncode == 0, verified.stderr
        # played only once its segment verified: a segment (1 s) and more behind the DJ
        assert verified.json()["verified_playout"] is True and verified.json()["latency_ms"] > 1000
        listing = djmesh("--home", str(fan), "live", "list", "--json").json()
        assert [s["stream_id"] for s in listing] == [stream_id] and listing[0]["title"] == "warm-up"
        stopped = djmesh("--home", str(dj), "live", "stop", "--json")
        assert stopped.returncode == 0 and stopped.json()["stopped"] == [stream_id]
        replay = tmp_path / "replay.wav"
        fetched = djmesh("--home", str(fan), "live", "set", stream_id, "--record", str(replay), "--json")
        assert fetched.returncode == 0, fetched.stderr
        assert fetched.json()["complete"] and fetched.json()["recorded_seconds"] > 2
        assert abs(dominant_hz(read_audio(replay)[4800:]) - 440) < 3
        bad = djmesh("--home", str(dj), "live", "start", str(tmp_path / "missing.flac"))
        assert bad.returncode == 1 and "cannot open" in bad.stderr and "Traceback" not in bad.stderr
        unknown = djmesh("--home", str(fan), "listen", "00" * 32, "--seconds", "1")
        assert unknown.returncode == 1 and "unknown stream" in unknown.stderr
        # Opus's own ceiling, 510 kbit/s, makes packets no link carries: refused before going live, in one line
        loud = djmesh("--home", str(dj), "live", "start", "lavfi:sine", "--bitrate", "510000")
        assert loud.returncode == 1 and len(loud.stderr.strip().splitlines()) == 1, loud.stderr
        assert (
            "bitrate must be 6000..457000 bit/s: a 20 ms Opus packet must fit one 1156-byte frame"
            in loud.stderr
        )
        assert [s["stream_id"] for s in djmesh("--home", str(dj), "live", "list", "--json").json()] == [
            stream_id
        ]


def test_live_package_imports_without_textual() -> None:
    code = "import sys, djmesh.node.live, djmesh.node.live.cli; assert 'textual' not in sys.modules"
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0
