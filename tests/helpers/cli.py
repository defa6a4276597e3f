"""Run the real `djmesh` console script in a subprocess."""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass
class CliResult:
    returncode: int
    stdout: str
    stderr: str

    def json(self) -> Any:
        return json.loads(self.stdout)


@dataclass
class CliRunner:
    env: dict[str, str]
    cwd: Path

    def executable(self) -> list[str]:
        found = shutil.which("djmesh", path=str(Path(sys.executable).parent))
        return [found] if found else [sys.executable, "-m", "djmesh.node.cli"]

    def __call__(self, *args: str, input_text: str | None = None, timeout: float = 120) -> CliResult:
        proc = subprocess.run(
            [*self.executable(), *args],
            capture_output=True,
            text=True,
            env=self.env,
            cwd=self.cwd,
            input=input_text,
            timeout=timeout,
        )
        return CliResult(proc.returncode, proc.stdout, proc.stderr)


def as_foreground_job() -> None:
    """``preexec_fn`` for a child the test will Ctrl-C: SIGINT at its default, as in a terminal's foreground job.

    A suite started in the background of a non-interactive shell (``.ci/run > log &``) has SIGINT ignored, and
    children inherit that: Python then installs no Ctrl-C handler and a SIGINT does nothing.
    """
    signal.signal(signal.SIGINT, signal.SIG_DFL)
