"""`djmesh node` in a subprocess, driven by the CLI through the control API."""

from __future__ import annotations

import json
import signal
import socket
import stat
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers.cli import CliRunner
from tests.helpers.daemon import node_process
from tests.helpers.network import PATIENCE

pytestmark = pytest.mark.timeout(180)


@pytest.fixture
def running_node(djmesh: CliRunner, tmp_path: Path) -> Iterator[Path]:
    home = tmp_path / "dj"
    assert djmesh("--home", str(home), "init", "--name", "DJ Test").returncode == 0
    proc = subprocess.Popen(
        [*djmesh.executable(), "--home", str(home), "node", "--listen", "/ip4/127.0.0.1/tcp/0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=djmesh.env,
    )
    assert proc.stdout is not None
    first = proc.stdout.readline()
    assert first.startswith("/ip4/127.0.0.1/tcp/"), proc.stderr.read() if proc.stderr else first
    assert "/p2p/12D3KooW" in first
    try:
        yield home
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
        assert not (home / "control.json").exists()  # cleaned up on a graceful stop


def test_cli_drives_the_running_node(djmesh: CliRunner, running_node: Path) -> None:
    home = str(running_node)
    assert stat.S_IMODE((running_node / "control.token").stat().st_mode) == 0o600
    posted = djmesh("--home", home, "post", "hello from the booth", "--json")
    assert posted.returncode == 0, posted.stderr
    feed = djmesh("--home", home, "feed", "--json").json()
    assert [item["text"] for item in feed] == ["hello from the booth"]
    assert {"id", "author", "text", "created_at"} <= set(feed[0])
    assert feed[0]["id"] == posted.json()["id"]
    assert djmesh("--home", home, "id").stdout.strip() == feed[0]["author"]
    assert djmesh("--home", home, "profile", "set", "--bio", "jungle").returncode == 0
    profile = djmesh("--home", home, "profile", "show", "--json").json()
    assert profile["name"] == "DJ Test" and profile["bio"] == "jungle"
    assert djmesh("--home", home, "chat", "battle-1", "gg").returncode == 0
    lines = djmesh("--home", home, "chat", "battle-1", "--json").json()
    assert [line["payload"]["text"] for line in lines] == ["gg"]
    reacted = djmesh("--home", home, "react", feed[0]["id"], "🔥", "--json")
    assert reacted.returncode == 0 and reacted.json()["payload"]["emoji"] == "🔥"
    assert isinstance(djmesh("--home", home, "peers", "--json").json(), list)
    bad = djmesh("--home", home, "follow", "not-a-peer-id")
    assert bad.returncode != 0 and "not a djmesh peer ID" in bad.stderr and "Traceback" not in bad.stderr
    # No [ledger] in config.toml: the node runs, and a vote says what is missing.
    vote = djmesh("--home", home, "vote", "ab" * 32, "a")
    assert vote.returncode != 0 and "Traceback" not in vote.stderr
    assert "anonymous votes are off on this node" in vote.stderr and "djmesh devnet --json" in vote.stderr
    # The same for every command that moves money: one line naming what is missing, nothing sent.
    for argv in (
        ("tip", "DJ Nobody", "0.1"),
        ("reward", "claim", "ab" * 32),
        ("battle", "sponsor", "ab" * 32, "0.1"),
    ):
        refused = djmesh("--home", home, *argv)
        assert refused.returncode != 0 and "Traceback" not in refused.stderr, argv
        assert len(refused.stderr.strip().splitlines()) == 1, refused.stderr
    assert "needs a chain" in djmesh("--home", home, "tip", "DJ Nobody", "0.1").stderr
    sol = djmesh("--home", home, "tip", "DJ Nobody", "0.1", "--chain", "sol")
    assert sol.returncode == 1 and len(sol.stderr.strip().splitlines()) == 1, sol.stderr
    assert "needs a Solana cluster" in sol.stderr and "[solana]" in sol.stderr
    prize = djmesh(
        "--home", home, "battle", "challenge", "DJ Nobody", "--genre", "house", "--tracks", "3",
        "--set-seconds", "60", "--start-in", "60", "--set", "set.toml", "--prize", "1",
    )  # fmt: skip
    assert prize.returncode != 0 and "a prize needs a chain" in prize.stderr, prize.stderr
    unknown = djmesh("--home", home, "battle", "show", "ab" * 32, "--json")
    assert unknown.returncode != 0 and "unknown battle" in unknown.stderr
    assert djmesh("--home", home, "battle", "list", "--json").json() == []


def test_control_api_refuses_requests_without_the_token(running_node: Path) -> None:
    info = json.loads((running_node / "control.json").read_text())
    with socket.create_connection((info["host"], info["port"]), timeout=10) as sock:
        sock.sendall(b'{"method": "post", "params": {"text": "forged"}, "token": "guess"}\n')
        response = json.loads(sock.makefile().readline())
    assert response == {"ok": False, "error": "bad or missing token"}
    with socket.create_connection((info["host"], info["port"]), timeout=10) as sock:
        sock.sendall(b"\xff\xfe not json\n")
        assert json.loads(sock.makefile().readline())["ok"] is False


def test_commands_say_when_no_node_is_running(djmesh: CliRunner, tmp_path: Path) -> None:
    home = str(tmp_path / "idle")
    djmesh("--home", home, "init")
    for args in (("post", "x"), ("feed",), ("peers", "--json"), ("follow", "12D3KooWx")):
        result = djmesh("--home", home, *args)
        assert result.returncode == 1
        assert "no node is running" in result.stderr and "Traceback" not in result.stderr


def test_a_name_given_at_init_is_how_other_nodes_show_the_node(djmesh: CliRunner, tmp_path: Path) -> None:
    """The README's `init --name "DJ Ada"`: another node showed her by her ID until she ran `profile set`."""
    ada, bob = tmp_path / "ada", tmp_path / "bob"
    with (
        node_process(djmesh, ada, name="DJ Ada") as ada_addr,
        node_process(djmesh, bob, "--bootstrap", ada_addr),
    ):
        shown = djmesh("--home", str(ada), "profile", "show", "--json")
        assert shown.returncode == 0 and json.loads(shown.stdout)["name"] == "DJ Ada", shown.stdout
        ada_id = ada_addr.rsplit("/p2p/", 1)[1]
        deadline = time.monotonic() + 30 * PATIENCE
        while True:  # Bob does not follow Ada: her profile comes by lookup
            peers = djmesh("--home", str(bob), "peers", "--json")
            names = {p["peer_id"]: p.get("name") for p in json.loads(peers.stdout or "[]")}
            if names.get(ada_id) == "DJ Ada":
                break
            assert time.monotonic() < deadline, f"Bob never showed Ada by her name: {names}"
            time.sleep(0.5)
