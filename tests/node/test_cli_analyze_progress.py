"""`djmesh analyze` shows its progress on a terminal, and only there (never in --json or a pipe)."""

from __future__ import annotations

import fcntl
import io
import json
import os
import struct
import subprocess
import termios
from pathlib import Path

import pytest

from djmesh.node.progress_line import CLEAR, ProgressLine
from tests.helpers.audio import drum_pattern, write_wav
from tests.helpers.cli import CliRunner

SR = 44100


@pytest.fixture
def groove(tmp_path: Path) -> str:
    samples, _ = drum_pattern(124, 60.0, sr=SR)
    path = tmp_path / "groove.wav"
    write_wav(str(path), samples, SR)
    return str(path)


def analyze_with_terminal_stderr(djmesh: CliRunner, *args: str, columns: int = 300) -> tuple[int, str, str]:
    """Runs `djmesh analyze ARGS` with stderr on a pseudo-terminal; returns (status, stdout, terminal)."""
    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, columns, 0, 0))
    proc = subprocess.Popen(
        [*djmesh.executable(), "analyze", *args],
        stdout=subprocess.PIPE,
        stderr=slave,
        env=djmesh.env,
        cwd=djmesh.cwd,
    )
    os.close(slave)
    terminal = bytearray()
    while True:  # until the child's end of the terminal closes (EIO on Linux)
        try:
            chunk = os.read(master, 65536)
        except OSError:
            break
        if not chunk:
            break
        terminal += chunk
    os.close(master)
    assert proc.stdout is not None
    stdout = proc.stdout.read().decode()
    return proc.wait(timeout=120), stdout, terminal.decode()


def test_a_terminal_sees_the_progress_then_the_result(djmesh: CliRunner, groove: str) -> None:
    status, stdout, terminal = analyze_with_terminal_stderr(djmesh, groove)
    assert status == 0, terminal
    assert f"analyze 1/1   0%  {groove}" in terminal
    assert terminal.endswith(CLEAR)  # the line is gone once the work is done
    assert "tempo 124.0 BPM" in stdout


def test_several_files_count_up_and_errors_still_print(
    djmesh: CliRunner, groove: str, tmp_path: Path
) -> None:
    missing = str(tmp_path / "missing.wav")
    status, stdout, terminal = analyze_with_terminal_stderr(djmesh, groove, missing, groove)
    assert status == 1
    assert f"analyze 1/3   0%  {groove}" in terminal and f"analyze 3/3   0%  {groove}" in terminal
    assert f"{CLEAR}{missing}: error: file does not exist" in terminal  # the line is cleared first
    assert stdout.count("tempo 124.0 BPM") == 2


def test_json_output_carries_no_progress(djmesh: CliRunner, groove: str) -> None:
    status, stdout, terminal = analyze_with_terminal_stderr(djmesh, groove, "--json")
    assert status == 0
    assert terminal == ""
    [result] = json.loads(stdout)
    assert result["path"] == groove


def test_no_progress_into_a_pipe(djmesh: CliRunner, groove: str) -> None:
    result = djmesh("analyze", groove)
    assert result.returncode == 0
    assert result.stderr == ""
    assert "tempo 124.0 BPM" in result.stdout


def test_a_narrow_terminal_cuts_the_path_not_the_figure(djmesh: CliRunner, groove: str) -> None:
    status, _, terminal = analyze_with_terminal_stderr(djmesh, groove, columns=24)
    assert status == 0
    drawn = [line for line in terminal.split(CLEAR) if line]
    assert drawn and all(len(line) <= 23 for line in drawn)  # never wraps onto a second row
    assert drawn[0] == f"analyze 1/1   0%  {groove}"[:23]


def test_the_line_is_redrawn_at_most_every_interval() -> None:
    now = [0.0]
    out = io.StringIO()
    line = ProgressLine(out, interval_s=0.1, clock=lambda: now[0])
    line.show("a")
    line.show("b")  # too soon: skipped
    now[0] = 0.15
    line.show("c")
    line.clear()
    line.clear()  # nothing drawn since: nothing to clear
    assert out.getvalue() == f"{CLEAR}a{CLEAR}c{CLEAR}"
