"""`--http ADDR` on `djmesh node`, `djmesh demo` and `djmesh tui`: serves, reports the URL, refuses bad addresses."""

from __future__ import annotations

import json
import signal
import subprocess
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from tests.helpers.cli import CliRunner, as_foreground_job
from tests.helpers.network import PATIENCE

pytestmark = pytest.mark.timeout(40)


def fetch_json(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=10) as response:
        return json.loads(response.read())


def test_node_serves_the_api_and_reports_its_url(djmesh: CliRunner, tmp_path: Path) -> None:
    home = str(tmp_path / "dj")
    assert djmesh("--home", home, "init", "--name", "DJ Web").returncode == 0
    proc = subprocess.Popen(
        [*djmesh.executable(), "--home", home, "node", "--listen", "/ip4/127.0.0.1/tcp/0", "--http", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=djmesh.env,
    )
    assert proc.stdout is not None
    try:
        lines = [proc.stdout.readline().strip()]
        while not lines[-1].startswith("http://") and lines[-1]:
            lines.append(proc.stdout.readline().strip())
        assert lines[0].startswith("/ip4/127.0.0.1/tcp/"), lines
        url = lines[-1].rstrip("/")
        assert url.startswith("http://127.0.0.1:") and not url.endswith(":0"), lines
        status = fetch_json(f"{url}/api/status")
        assert status["peer_id"] == djmesh("--home", home, "id").stdout.strip()
        assert status["name"] == "DJ Web" and status["live"] and status["battles"]
        assert fetch_json(f"{url}/api/battles") == [] and fetch_json(f"{url}/api/streams") == []
        with urllib.request.urlopen(f"{url}/overlay", timeout=10) as page:
            assert b"/static/overlay.js" in page.read()
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10 * PATIENCE) == 0


@pytest.mark.parametrize("command", [["node"], ["demo"], ["tui"]])
def test_bad_http_addresses_are_wrong_arguments(
    djmesh: CliRunner, tmp_path: Path, command: list[str]
) -> None:
    result = djmesh("--home", str(tmp_path / "h"), *command, "--http", "127.0.0.1:99999")
    assert result.returncode == 2
    assert result.stderr.strip() == "djmesh: error: --http '127.0.0.1:99999': the port must be 0..65535"


def test_demo_serves_the_overlay_of_its_battle(djmesh: CliRunner, tmp_path: Path) -> None:
    """`demo --http` without --live keeps serving after the battle (it implies --live) and says so."""
    proc = subprocess.Popen(
        [
            *djmesh.executable(),
            "--home",
            str(tmp_path / "h"),
            "demo",
            "--viewers",
            "1",
            "--http",
            "127.0.0.1:0",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env={**djmesh.env, "PYTHONFAULTHANDLER": "1"},  # SIGABRT dumps every thread's stack (see below)
        preexec_fn=as_foreground_job,
    )
    assert proc.stderr is not None
    stderr = proc.stderr
    seen: list[str] = []
    announced = threading.Event()

    def drain() -> None:  # read all of stderr: a full pipe would block the demo's next line, and its exit
        for line in stderr:
            seen.append(line.strip())
            if "announced" in line:
                announced.set()
        announced.set()

    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    try:
        announced.wait(timeout=180 * PATIENCE)
        assert any("announced" in line for line in seen), f"the demo stopped: {seen}"
        assert "· --http implies --live: the network and the overlay keep running after the battle" in seen
        url = next(line for line in seen if "overlay on" in line).split("overlay on ")[1].split("/overlay")[0]
        deadline = time.monotonic() + 7 * PATIENCE
        overlay = fetch_json(f"{url}/api/overlay")
        while overlay["battle"] is None and time.monotonic() < deadline:
            time.sleep(0.2)
            overlay = fetch_json(f"{url}/api/overlay")
        assert overlay["battle"]["title"] == "djmesh demo battle"
        assert [dj["side"] for dj in overlay["djs"]] == ["a", "b"]
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            code = proc.wait(timeout=10 * PATIENCE)
        except subprocess.TimeoutExpired:
            proc.send_signal(signal.SIGABRT)  # where it is stuck, on its stderr
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            reader.join(timeout=5)
            stuck = "\n".join(seen[-80:])
            raise AssertionError(f"the demo did not stop on Ctrl-C; its last lines:\n{stuck}") from None
        reader.join(timeout=5)
    assert code == 130, seen[-20:]  # Ctrl-C mid-battle: a clean stop
    assert not any("Traceback" in line for line in seen), seen
