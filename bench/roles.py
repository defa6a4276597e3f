"""Benches whose nodes run as child processes of the bench script, one role each (as on their own
machines), talking to the bench one JSON line at a time over stdin and stdout."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from typing import Any


def spawn(script: str, *args: str, cpus: set[int] | None = None) -> subprocess.Popen[str]:
    """``script`` run again with ``args`` (its role), on ``cpus`` if given."""
    return subprocess.Popen(
        [sys.executable, script, *args],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        preexec_fn=None if cpus is None else lambda: os.sched_setaffinity(0, cpus),
    )


async def read_line(child: subprocess.Popen[str]) -> Any:
    """The child's next JSON line (read off the event loop)."""
    assert child.stdout is not None
    line = await asyncio.to_thread(child.stdout.readline)
    if not line:
        raise RuntimeError(f"{child.args[2:6]} stopped early (its log is above)")
    return json.loads(line)


def tell(child: subprocess.Popen[str], value: Any) -> None:
    assert child.stdin is not None
    child.stdin.write(json.dumps(value) + "\n")
    child.stdin.flush()
