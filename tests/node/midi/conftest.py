"""A userspace JACK server on the dummy driver, so MIDI ports are real without a sound card."""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers.cli import CliRunner

JACK_BACKEND = "mido.backends.rtmidi/UNIX_JACK"


def _jack_answers(env: dict[str, str]) -> bool:
    lsp = shutil.which("jack_lsp")
    if lsp is None:
        return True  # no way to ask: the first port opened will tell
    done = subprocess.run([lsp], env=env, capture_output=True, timeout=10)
    return done.returncode == 0


@pytest.fixture
def jack(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, str]]:
    """Starts `jackd -d dummy`; yields the environment that points MIDI at it (also set in os.environ)."""
    jackd = shutil.which("jackd")
    if jackd is None:
        pytest.skip("jackd is not installed (Debian package jackd2; scripts/setup installs it)")
    # one JACK server at a time on the machine: with servers of pytest-xdist workers running side by side,
    # one's start or stop broke another's clients ("JACK server not running?" in the middle of a test; 2 of
    # 1,328 tests in a CI precheck with 4 workers, 1 run in 8 of tests/node/midi with 2)
    lock = (Path(tempfile.gettempdir()) / "djmesh-test-jackd.lock").open("w")
    fcntl.flock(lock, fcntl.LOCK_EX)
    try:
        yield from _jack_server(jackd, monkeypatch)
    finally:
        fcntl.flock(lock, fcntl.LOCK_UN)
        lock.close()


def _jack_server(jackd: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, str]]:
    name = f"djmesh-test-{uuid.uuid4().hex[:8]}"
    settings = {"JACK_DEFAULT_SERVER": name, "MIDO_BACKEND": JACK_BACKEND, "JACK_NO_START_SERVER": "1"}
    env = {**os.environ, **settings}
    proc = subprocess.Popen(
        [jackd, "-n", name, "-d", "dummy", "-r", "48000", "-p", "256"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env=env,
    )
    try:
        deadline = time.monotonic() + 15
        while not _jack_answers(env):
            if proc.poll() is not None:
                raise RuntimeError(f"jackd exited: {proc.stderr.read().decode() if proc.stderr else ''}")
            if time.monotonic() > deadline:
                raise RuntimeError("jackd did not come up within 15 s")
            time.sleep(0.1)
        for key, value in settings.items():
            monkeypatch.setenv(key, value)
        yield settings
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture
def djmesh_midi(djmesh: CliRunner) -> CliRunner:
    return djmesh
