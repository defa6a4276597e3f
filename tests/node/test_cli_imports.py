"""Light commands start fast: `djmesh --help`, `id` and the commands that talk to a running node
load none of the heavy subsystems (the UI, chains, the model, audio, networking).

What each command imports is checked, not how long it takes (bench/cli_startup.py measures that).
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

from tests.helpers.cli import CliRunner
from tests.helpers.daemon import node_process

HEAVY = ("textual", "web3", "onnxruntime", "numpy", "scipy", "av", "libp2p", "aiohttp")

# Runs the same main() as the `djmesh` console script, then reports what the process imported.
RUN_AND_REPORT = """
import json, sys
from djmesh.node.cli import main
try:
    code = main(sys.argv[1:])
except SystemExit as exc:
    code = exc.code
sys.stderr.write("\\nMODULES " + json.dumps(sorted(sys.modules)) + "\\n")
sys.exit(code)
"""


def run_and_report(djmesh: CliRunner, *args: str) -> tuple[subprocess.CompletedProcess[str], set[str]]:
    proc = subprocess.run(
        [sys.executable, "-c", RUN_AND_REPORT, *args],
        capture_output=True,
        text=True,
        env=djmesh.env,
        cwd=djmesh.cwd,
        timeout=120,
    )
    report = proc.stderr.rsplit("\nMODULES ", 1)
    assert len(report) == 2, proc.stderr
    return proc, set(json.loads(report[1]))


def heavy_in(modules: set[str]) -> list[str]:
    return sorted(m for m in modules if m.split(".")[0] in HEAVY)


def test_help_lists_every_subcommand_without_loading_them(djmesh: CliRunner) -> None:
    proc, modules = run_and_report(djmesh, "--help")
    assert proc.returncode == 0, proc.stderr
    # the plugins' subcommands are registered (entry points), only their handlers are not loaded
    commands = (
        "bootstrap",
        "live",
        "judge",
        "tui",
        "midi",
        "obs",
        "wallet",
        "devnet",
        "vote",
        "battle",
        "reward",
        "tip",
    )
    for command in commands:
        assert f"    {command} " in proc.stdout, command
    assert heavy_in(modules) == []


def test_id_loads_nothing_heavy(djmesh: CliRunner, tmp_path: Path) -> None:
    home = str(tmp_path / "home")
    assert djmesh("--home", home, "init").returncode == 0
    proc, modules = run_and_report(djmesh, "--home", home, "id", "--json")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout.splitlines()[0])["peer_id"].startswith("12D3KooW")
    assert heavy_in(modules) == []


def test_commands_through_a_running_node_load_nothing_heavy(djmesh: CliRunner, tmp_path: Path) -> None:
    home = str(tmp_path / "home")
    with node_process(djmesh, Path(home)):
        posted, modules = run_and_report(djmesh, "--home", home, "post", "hello", "--json")
        assert posted.returncode == 0, posted.stderr
        assert heavy_in(modules) == []

        fed, modules = run_and_report(djmesh, "--home", home, "feed", "--json")
        assert fed.returncode == 0, fed.stderr
        assert [item["text"] for item in json.loads(fed.stdout.splitlines()[0])] == ["hello"]
        assert heavy_in(modules) == []

        # status, as a person reads it: the gossip block says which link is missing when nothing arrives
        status, modules = run_and_report(djmesh, "--home", home, "status")
        assert status.returncode == 0, status.stderr
        assert "gossip: streams to 0 peers, from 0; received" in status.stdout
        assert "/djmesh/1/battles: subscribers 0, mesh 0, fanout 0" in status.stdout
        assert heavy_in(modules) == []

        # a plugin's command that talks to the node (`live list`) also stays light
        listed, modules = run_and_report(djmesh, "--home", home, "live", "list", "--json")
        assert listed.returncode == 0, listed.stderr
        assert json.loads(listed.stdout.splitlines()[0]) == []
        assert heavy_in(modules) == []

        # the battle and money commands too, answered or refused (no chain here)
        battles, modules = run_and_report(djmesh, "--home", home, "battle", "list", "--json")
        assert battles.returncode == 0 and json.loads(battles.stdout.splitlines()[0]) == []
        assert heavy_in(modules) == []
        tipped, modules = run_and_report(djmesh, "--home", home, "tip", "DJ Nobody", "0.01", "--json")
        assert tipped.returncode == 1 and "needs a chain" in tipped.stderr
        assert heavy_in(modules) == []


def test_a_command_that_needs_a_subsystem_still_gets_it(djmesh: CliRunner, tmp_path: Path) -> None:
    """The lazy imports are real imports: `analyze` loads the DSP (numpy, PyAV) when it runs."""
    proc, modules = run_and_report(djmesh, "analyze", str(tmp_path / "missing.wav"), "--json")
    assert proc.returncode == 1
    assert {"numpy", "av"} <= modules


CHAIN_MODULES = {"web3", "eth_account", "eth_utils", "eth_tester", "eth", "solders", "solana", "scipy"}


def test_a_node_without_a_chain_loads_no_chain_library(djmesh: CliRunner, tmp_path: Path) -> None:
    """A `djmesh node` with no [ledger] or [solana] paid about 1.1 s of CPU at every start importing web3,
    eth-tester and solders for control methods that only answer "no chain" (2.5-2.9 s -> 1.5-1.6 s)."""
    home = tmp_path / "home"
    assert djmesh("--home", str(home), "init").returncode == 0
    node = subprocess.Popen(
        [
            sys.executable,
            "-c",
            RUN_AND_REPORT,
            "--home",
            str(home),
            "node",
            "--listen",
            "/ip4/127.0.0.1/tcp/0",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=djmesh.env,
        cwd=djmesh.cwd,
    )
    assert node.stdout is not None
    try:
        assert "/p2p/12D3KooW" in node.stdout.readline()  # up, with its control API
        tipped = djmesh("--home", str(home), "tip", "DJ Nobody", "0.01", "--json")
        assert tipped.returncode == 1 and "needs a chain" in tipped.stderr
    finally:
        node.send_signal(signal.SIGTERM)
        _, err = node.communicate(timeout=60)
    report = err.rsplit("\nMODULES ", 1)
    assert len(report) == 2, err[-2000:]
    loaded = {m.split(".")[0] for m in json.loads(report[1])}
    assert "libp2p" in loaded  # the report is the node's own
    assert not loaded & CHAIN_MODULES, sorted(loaded & CHAIN_MODULES)
