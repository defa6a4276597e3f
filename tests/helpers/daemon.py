"""`djmesh node` in a subprocess, for tests that drive a running node through the CLI."""

from __future__ import annotations

import signal
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.helpers.cli import CliRunner


@contextmanager
def node_process(djmesh: CliRunner, home: Path, *extra: str, name: str = "") -> Iterator[str]:
    """A new identity at ``home`` (``init --name`` when ``name``) and a running `djmesh node`; yields its
    first multiaddr."""
    assert djmesh("--home", str(home), "init", *(("--name", name) if name else ())).returncode == 0
    proc = subprocess.Popen(
        [*djmesh.executable(), "--home", str(home), "node", "--listen", "/ip4/127.0.0.1/tcp/0", *extra],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=djmesh.env,
        cwd=djmesh.cwd,
    )
    assert proc.stdout is not None
    first = proc.stdout.readline().strip()
    try:
        assert "/p2p/12D3KooW" in first
        yield first
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
