"""Ctrl-C stops a foreground command even when a cancellation is swallowed on the way (Python 3.11 wait_for)."""

from __future__ import annotations

import signal
import subprocess
import sys

from tests.helpers.cli import as_foreground_job
from tests.helpers.network import PATIENCE

# A main coroutine that swallows the first cancellation, as asyncio.wait_for can in 3.11 when the awaited
# thing finishes as the cancellation lands, then runs on for ever; the second cancellation ends it.
SWALLOWS_ONE = """
import asyncio, logging, sys
from djmesh.node.foreground import run_until_done
logging.basicConfig(level=logging.WARNING)

async def main():
    print("ready", flush=True)
    try:
        await asyncio.sleep(3600)
    except asyncio.CancelledError:
        print("swallowed", flush=True)
    await asyncio.sleep(3600)
    return "finished"

try:
    print(run_until_done(main()), flush=True)
except KeyboardInterrupt:
    sys.exit(130)
"""

STUBBORN = """
import asyncio
from djmesh.node.foreground import run_until_done

async def main():
    print("ready", flush=True)
    while True:
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            print("swallowed", flush=True)

run_until_done(main())
"""


def _start(script: str) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [sys.executable, "-c", script],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=as_foreground_job,
    )
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "ready"
    return proc


def test_a_swallowed_cancellation_is_sent_again_and_the_command_exits_130() -> None:
    proc = _start(SWALLOWS_ONE)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60 * PATIENCE)
    assert proc.returncode == 130, (out, err)
    assert "swallowed" in out and "finished" not in out
    assert "still stopping" in err and "cancelling again" in err, err  # with where the tasks were


def test_a_second_ctrl_c_quits_at_once() -> None:
    proc = _start(STUBBORN)
    proc.send_signal(signal.SIGINT)
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "swallowed"
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=30 * PATIENCE)
    assert proc.returncode == 130, (out, err)
    assert "second Ctrl-C" in err
