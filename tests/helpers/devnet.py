"""`djmesh devnet` in the background, for tests that need a real JSON-RPC chain."""

from __future__ import annotations

import json
import select
import socket
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from tests.helpers.cli import CliRunner

# A deadline, not an expectation: the py-evm fallback deploys the contracts in pure Python, which on a
# busy machine takes tens of seconds. A devnet that is merely slow must not fail the test.
START_DEADLINE_S = 240


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def devnet(cli: CliRunner, home: Path, *args: str) -> Iterator[dict[str, Any]]:
    """`djmesh --home HOME devnet --port P --json ...` in the background; yields its ready line."""
    process = subprocess.Popen(
        [*cli.executable(), "--home", str(home), "devnet", "--port", str(free_port()), "--json", *args],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=cli.env, cwd=cli.cwd,
    )  # fmt: skip
    try:
        assert process.stdout is not None
        ready, _, _ = select.select([process.stdout], [], [], START_DEADLINE_S)
        line = process.stdout.readline() if ready else ""
        assert line, (
            f"devnet did not start: {process.stderr.read() if process.poll() is not None else 'timeout'}"
        )
        yield json.loads(line)
    finally:
        process.terminate()
        assert process.wait(timeout=20) == 0  # SIGTERM is a clean stop
