"""Run `djmesh` with subcommands whose entry points are not installed yet (a new package's `register`).

``python -m tests.helpers.plugin_cli ARGS`` adds the entry points named in ``$DJMESH_TEST_COMMANDS``
(``name=module:function;...``) to the ones installed, then runs the real ``djmesh`` main. Names the
installed package already provides are left alone, so this keeps working once pyproject lists them.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

from tests.helpers.cli import CliRunner

GROUP = "djmesh.commands"
REPO = Path(__file__).resolve().parents[2]


@dataclass
class PluginCliRunner(CliRunner):
    def executable(self) -> list[str]:
        return [sys.executable, "-m", "tests.helpers.plugin_cli"]


def with_commands(djmesh: CliRunner, **commands: str) -> PluginCliRunner:
    """A runner like ``djmesh`` whose CLI also has ``commands`` (name -> "module:function")."""
    env = dict(djmesh.env)
    env["DJMESH_TEST_COMMANDS"] = ";".join(f"{name}={value}" for name, value in commands.items())
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    return PluginCliRunner(env=env, cwd=djmesh.cwd)


def _entry_points(**kwargs: Any) -> Any:
    installed = list(metadata.entry_points(**kwargs))
    if kwargs.get("group") != GROUP:
        return installed
    names = {e.name for e in installed}
    for item in filter(None, os.environ.get("DJMESH_TEST_COMMANDS", "").split(";")):
        name, value = item.split("=", 1)
        if name not in names:
            installed.append(metadata.EntryPoint(name=name, value=value, group=GROUP))
    return installed


def main() -> int:
    from djmesh.node import cli

    cli.entry_points = _entry_points  # type: ignore[assignment]
    return cli.main(sys.argv[1:])


if __name__ == "__main__":
    sys.exit(main())
