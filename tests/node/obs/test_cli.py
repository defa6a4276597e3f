"""`djmesh obs connect` against a running node and an obs-websocket v5 stand-in."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers.cli import CliRunner
from tests.helpers.daemon import node_process
from tests.node.obs.fake_obs import fake_obs

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
def djmesh_obs(djmesh: CliRunner) -> CliRunner:
    return djmesh


@pytest.fixture
def daemon(djmesh_obs: CliRunner, tmp_path: Path) -> Iterator[Path]:
    home = tmp_path / "dj"
    with node_process(djmesh_obs, home):
        yield home


async def _run(runner: CliRunner, *args: str) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        *runner.executable(),
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=runner.env,
        cwd=runner.cwd,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def test_connect_identifies_and_checks_the_scenes(
    djmesh_obs: CliRunner, daemon: Path, tmp_path: Path
) -> None:
    secret = tmp_path / "obs-password"
    secret.write_text("hunter2\n")
    home = str(daemon)
    async with fake_obs("hunter2", ["Intro", "Decks"]) as obs:
        code, out, err = await _run(
            djmesh_obs, "--home", home, "obs", "connect", "--url", obs.url, "--password-file", str(secret),
            "--scene", "announced=Intro", "--scene", "started=Decks", "--seconds", "1", "--json",
        )  # fmt: skip
        assert code == 0, err
        assert json.loads(out.splitlines()[-1]) == {"event": "summary", "switched": 0}
        assert obs.identified == 1 and ("GetSceneList", {}) in obs.requests

        code, out, err = await _run(
            djmesh_obs, "--home", home, "obs", "connect", "--url", obs.url, "--password-file", str(secret),
            "--scene", "result=Podium", "--seconds", "1",
        )  # fmt: skip
        assert code == 1 and err.strip() == "djmesh: error: OBS has no scene 'Podium' (it has: Intro, Decks)"

        secret.write_text("letmein\n")
        code, out, err = await _run(
            djmesh_obs, "--home", home, "obs", "connect", "--url", obs.url, "--password-file", str(secret),
            "--scene", "announced=Intro", "--seconds", "1",
        )  # fmt: skip
        assert code == 1 and err.strip() == "djmesh: error: OBS refused the password"
        assert obs.refused == 1


def test_bad_arguments_are_one_line(djmesh_obs: CliRunner, tmp_path: Path) -> None:
    home = str(tmp_path / "h")
    done = djmesh_obs("--home", home, "obs", "connect", "--scene", "dance=Decks")
    assert done.returncode == 1 and "unknown battle event 'dance'" in done.stderr
    done = djmesh_obs("--home", home, "obs", "connect", "--url", "http://x", "--scene", "started=Decks")
    assert done.returncode == 2 and "--url must start with ws://" in done.stderr
    done = djmesh_obs("--home", home, "obs", "connect", "--scene", "started=Decks", "--seconds", "1")
    assert done.returncode == 1 and "no node is running" in done.stderr
    assert all(line.startswith("djmesh: error:") for line in done.stderr.strip().splitlines())
