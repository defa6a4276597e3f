"""The user's test: separate `djmesh` processes (a devnet, a bootstrap, two DJs, viewers) driven by the CLI
only, as the README tells a user to. A battle with a prize and a sponsor, votes before the sets end, the
payout, a listen reward claim, a tip and a priced stream; each read back from the chain. DJ A plays a set
file, DJ B plays live (`--live`).

Four viewers by default (a committee of four); ``DJMESH_E2E_VIEWERS=2`` runs two (a committee of one).
Every wait is on a condition with a deadline
scaled by DJMESH_TEST_PATIENCE.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import select
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from web3 import Web3

from tests.helpers.cli import CliResult, CliRunner
from tests.helpers.devnet import devnet
from tests.helpers.network import PATIENCE
from tests.helpers.sets import write_set, write_wav

VIEWERS = int(os.environ.get("DJMESH_E2E_VIEWERS", "4"))
LOOPBACK = "/ip4/127.0.0.1/tcp/0"
ETH = 10**18
PRICE_WEI_PER_S = 10**13


def _eventually(check: Callable[[], Any], timeout: float, what: str, every: float = 0.5) -> Any:
    """``check()``'s first truthy answer, asked every ``every`` s (each ask is a `djmesh` process: CPU the
    nodes under test want); fails after ``timeout`` quiet-machine seconds (x PATIENCE)."""
    deadline = time.monotonic() + timeout * PATIENCE
    last: Any = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(every)
    raise AssertionError(f"timed out waiting for {what} (last: {last!r})")


@contextlib.contextmanager
def _background(djmesh: CliRunner, *commands: tuple[list[str], Path]) -> Iterator[list[str]]:
    """Long-running `djmesh` commands (arguments, log file), started together; yields each one's first line
    of output (an address)."""
    procs = []
    try:
        for args, log in commands:
            with log.open("w") as err:
                procs.append(subprocess.Popen(
                    [*djmesh.executable(), *args], stdout=subprocess.PIPE, stderr=err, text=True, env=djmesh.env,
                    cwd=djmesh.cwd,
                ))  # fmt: skip
        firsts = []
        deadline = time.monotonic() + 120 * PATIENCE
        for proc, (args, log) in zip(procs, commands, strict=True):
            assert proc.stdout is not None
            ready, _, _ = select.select([proc.stdout], [], [], max(0.0, deadline - time.monotonic()))
            first = proc.stdout.readline().strip() if ready else ""
            assert first, f"`djmesh {' '.join(args)}` did not start: {log.read_text()[-2000:]}"
            firsts.append(first)
        yield firsts
    finally:
        for proc in procs:
            proc.send_signal(signal.SIGTERM)
        for proc in procs:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def _ok(result: CliResult) -> Any:
    assert result.returncode == 0, result.stderr
    return result.json()


@pytest.mark.timeout(900)
def test_a_prize_battle_votes_reward_tip_and_priced_stream_between_processes(
    djmesh: CliRunner, tmp_path: Path
) -> None:
    env = {**djmesh.env, "DJMESH_PASSPHRASE": "correct horse", "DJMESH_WALLET_SCRYPT_N": "1024"}
    cli = CliRunner(env=env, cwd=djmesh.cwd)
    names = ["dj-a", "dj-b", *(f"viewer-{i + 1}" for i in range(VIEWERS))]
    homes = {name: str(tmp_path / name) for name in names}

    def init(name: str) -> str:
        _ok(cli("--home", homes[name], "init", "--name", name, "--json"))
        return str(_ok(cli("--home", homes[name], "wallet", "address", "--json"))["address"])

    with ThreadPoolExecutor(len(names)) as pool:  # six users setting up at once, as six machines would
        addresses = dict(zip(names, pool.map(init, names), strict=True))
    funds = [arg for name in names for arg in ("--fund", addresses[name])]
    sets = tmp_path / "sets"
    set_a = write_set(sets, "a", seconds=12.0)
    committee = 3 * ((VIEWERS - 1) // 3) + 1

    with contextlib.ExitStack() as stack:
        chain = stack.enter_context(devnet(cli, tmp_path / "devnet", *funds))
        contracts = chain["contracts"]
        ledger = (
            f'\n[ledger]\nrpc_url = "{chain["rpc_url"]}"\nchain_id = {chain["chain_id"]}\ncontracts = {{ '
            + ", ".join(f'{key} = "{value}"' for key, value in contracts.items())
            + " }\n"
        )
        for name in names:
            config = Path(homes[name]) / "config.toml"
            config.write_text(config.read_text() + ledger)
        [boot] = stack.enter_context(
            _background(cli, (["--home", str(tmp_path / "boot"), "bootstrap", "--listen", LOOPBACK],
                              tmp_path / "boot.log"))
        )  # fmt: skip
        stack.enter_context(
            _background(cli, *(
                (["--home", homes[name], "node", "--listen", LOOPBACK, "--bootstrap", boot], tmp_path / f"{name}.log")
                for name in names
            ))
        )  # fmt: skip

        def run(name: str, *args: str) -> CliResult:
            return cli("--home", homes[name], *args, timeout=300 * PATIENCE)

        assert _ok(run("dj-b", "profile", "set", "--name", "DJ Bea", "--json"))
        _eventually(lambda: len(_ok(run("dj-a", "peers", "--json"))) >= 2, 60, "dj-a to reach its peers")

        # Bad input: one line that says what to do, nothing sent.
        bad = run("dj-a", "battle", "challenge", "nobody-by-that-name", "--genre", "house", "--tracks", "3",
                  "--set-seconds", "14", "--start-in", "30", "--set", str(set_a), "--prize", "1")  # fmt: skip
        assert bad.returncode != 0 and "no known peer is called" in bad.stderr, bad.stderr
        too_many = run("dj-a", "battle", "challenge", "DJ Bea", "--genre", "house", "--tracks", "2",
                       "--set-seconds", "14", "--start-in", "30", "--set", str(set_a))  # fmt: skip
        assert too_many.returncode != 0 and "declares 3 tracks" in too_many.stderr, too_many.stderr
        assert _ok(run("dj-a", "battle", "list", "--json")) == []

        # The challenge, by DJ B's profile name, once DJ A's node has her profile.
        # The accept, the joins, the sponsorship and the votes come first (19 s of it at load 20 on 2 cores).
        start_in = str(int(30 + 5 * PATIENCE))

        def challenge() -> str | None:
            made = run("dj-a", "battle", "challenge", "DJ Bea", "--genre", "house", "--tracks", "3",
                       "--set-seconds", "14", "--start-in", start_in, "--set", str(set_a), "--prize", "1",
                       "--committee-size", str(committee), "--crowd-weight", "0.2",
                       "--commit-seconds", "40", "--reveal-seconds", "20", "--json")  # fmt: skip
            if made.returncode != 0:
                assert "no known peer is called" in made.stderr, made.stderr
                return None
            return str(made.json()["battle_id"])

        battle_id = _eventually(challenge, 60, "DJ A's node to learn DJ Bea's name")
        _eventually(
            lambda: run("dj-b", "battle", "show", battle_id, "--json").returncode == 0, 60, "the challenge"
        )
        # DJ B plays live (any source `live start` takes: a sound card, JACK, a FIFO; here a synth)
        live = "lavfi:sine=frequency=220:sample_rate=48000"
        accepted = _ok(run("dj-b", "battle", "accept", battle_id, "--live", live, "--json"))
        assert accepted["stake_wei"] == str(ETH)  # the same prize as the challenger's
        _eventually(lambda: run("viewer-1", "battle", "show", battle_id, "--json").returncode == 0, 60, "it")
        sponsored = _ok(run("viewer-1", "battle", "sponsor", battle_id, "0.5", "--json"))

        # Votes, all for DJ A, before the sets end (the gate closes with them, so the judges read a final
        # tally): each viewer's node pays its listen unit, then votes through a relaying peer.
        voting = [
            subprocess.Popen(
                [*cli.executable(), "--home", homes[f"viewer-{i + 1}"], "vote", battle_id, "a", "--json"],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                env=cli.env,
                cwd=cli.cwd,
            )
            for i in range(VIEWERS)
        ]
        votes = []
        for proc in voting:
            out, err = proc.communicate(timeout=300 * PATIENCE)
            assert proc.returncode == 0, err
            votes.append(json.loads(out))
        assert all(vote["registered_tx"] for vote in votes)

        def paid() -> dict[str, Any] | None:
            shown = _ok(run("dj-a", "battle", "show", battle_id, "--json"))
            return shown if shown.get("payout") else None

        shown = _eventually(paid, 240, "the result and the payout", every=2.0)  # the sets play first
        sets_end = max(end for _, end in shown["windows"].values())
        assert (shown["commit_by"] - sets_end, shown["reveal_by"] - shown["commit_by"]) == (40_000, 20_000)
        result = shown["result"]
        assert result["winner"] in ("a", "b") and set(result["scores"]) == {"a", "b"}
        # the crowd criterion is the votes' share (all for a), at the battle's crowd weight
        assert result["scores"]["a"]["crowd"] == 10 and result["scores"]["b"]["crowd"] == 0
        assert len(shown["committee"]) == committee
        payout = shown["payout"]
        winner = addresses["dj-a" if result["winner"] == "a" else "dj-b"]
        assert payout["to"] == winner and int(payout["amount_wei"]) == 2 * ETH + ETH // 2
        # anyone can re-check the result, and its crowd criterion against the chain's final tally
        bundle = tmp_path / "result.cbor"
        _ok(run("viewer-1", "battle", "show", battle_id, "--result-file", str(bundle), "--json"))
        verified = _ok(run("viewer-1", "verify", str(bundle), "--chain", "--json"))
        assert verified["valid"] and verified["crowd"]["matches"] is True
        assert verified["crowd"]["tally"] == [VIEWERS, 0], verified["crowd"]

        tip = _ok(run(f"viewer-{VIEWERS}", "tip", "DJ Bea", "0.01", "--json"))

        # A priced stream: the listener's node pays by itself; `listen` reports what it paid.
        loop = write_wav(tmp_path / "loop.wav", 30.0)
        stream = _ok(run("dj-b", "live", "start", str(loop), "--price", str(PRICE_WEI_PER_S), "--json"))
        _eventually(
            lambda: any(
                s["stream_id"] == stream["stream_id"] for s in _ok(run("viewer-1", "live", "list", "--json"))
            ),
            60,
            "the stream's announcement",
        )
        heard = _ok(run("viewer-1", "listen", stream["stream_id"], "--seconds", "4", "--json"))
        assert int(heard["paid_wei"]) >= PRICE_WEI_PER_S * 2

        # The listen reward, once the gate's window has closed on chain (it ends at the reveal deadline).
        def claim() -> dict[str, Any] | None:
            done = run("viewer-1", "reward", "claim", battle_id, "--json")
            if done.returncode != 0:
                assert "claim after that" in done.stderr, done.stderr
                if closes_in := re.search(r"ends in (\d+) s", done.stderr):
                    time.sleep(min(int(closes_in[1]), 60))  # the node says when: asking before then is waste
                return None
            return dict(done.json())

        claimed = _eventually(claim, 120, "the listen reward")

        # Everything above, read back from the chain.
        w3 = Web3(Web3.HTTPProvider(chain["rpc_url"]))

        def receipt(tx: str) -> Any:
            found = w3.eth.get_transaction_receipt(tx)  # type: ignore[arg-type]
            assert found["status"] == 1
            return found

        receipt(sponsored["tx"])
        assert receipt(payout["tx"])["to"] == contracts["BattleEscrow"]
        assert receipt(claimed["tx"])["to"] == contracts["ListenGate"] and int(claimed["amount_wei"]) > 0
        for vote in votes:
            assert receipt(vote["tx"])["to"] == contracts["ListenGate"]
        sent = w3.eth.get_transaction(tip["tx"])  # type: ignore[arg-type]
        assert (sent["to"], sent["value"]) == (addresses["dj-b"], ETH // 100)
        channels = _ok(run("viewer-1", "wallet", "channels", "--json"))
        assert any(row["counterparty"] == addresses["dj-b"] for row in channels), json.dumps(channels)
