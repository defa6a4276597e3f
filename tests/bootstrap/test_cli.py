"""`djmesh bootstrap`: prints its multiaddrs as soon as it listens, keeps its key across restarts."""

from __future__ import annotations

import signal
import subprocess
from pathlib import Path

import pytest

from tests.helpers.cli import CliRunner

pytestmark = pytest.mark.timeout(120)


def start(djmesh: CliRunner, home: Path) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(
        [*djmesh.executable(), "--home", str(home), "bootstrap", "--listen", "/ip4/127.0.0.1/tcp/0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=djmesh.env,
    )
    assert proc.stdout is not None
    return proc, proc.stdout.readline().strip()


def stop(proc: subprocess.Popen[str]) -> None:
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=30) == 0


def test_bootstrap_prints_full_multiaddrs_and_keeps_its_key(djmesh: CliRunner, tmp_path: Path) -> None:
    home = tmp_path / "boot"
    proc, first = start(djmesh, home)
    try:
        assert first.startswith("/ip4/127.0.0.1/tcp/") and "/p2p/12D3KooW" in first, first
        peer_id = first.rsplit("/p2p/", 1)[1]
        # A node started with `--bootstrap` connects to it.
        node_home = tmp_path / "n"
        assert djmesh("--home", str(node_home), "init").returncode == 0
        node = subprocess.Popen(
            [
                *djmesh.executable(),
                "--home",
                str(node_home),
                "node",
                "--listen",
                "/ip4/127.0.0.1/tcp/0",
                "--bootstrap",
                first,
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=djmesh.env,
        )
        try:
            assert node.stdout is not None and node.stdout.readline().startswith("/ip4/")
            peers = djmesh("--home", str(node_home), "peers", "--json").json()
            assert peer_id in {p["peer_id"] for p in peers}
        finally:
            stop(node)
    finally:
        stop(proc)
    proc, again = start(djmesh, home)
    try:
        assert again.rsplit("/p2p/", 1)[1] == peer_id  # the address in other nodes' configs stays valid
    finally:
        stop(proc)


def test_bootstrap_reports_a_bad_listen_address(djmesh: CliRunner, tmp_path: Path) -> None:
    result = djmesh("--home", str(tmp_path / "boot"), "bootstrap", "--listen", "not-a-multiaddr", timeout=60)
    assert result.returncode != 0
    assert "Traceback" not in result.stderr and result.stderr.strip()
