"""`djmesh tip PEER AMOUNT --chain sol`: the CLI, a node's control API, and SOL moving on a real SVM.

DJ A's node runs with a Solana wallet on an in-process LiteSVM; DJ B advertises a Solana address in
its signed profile. The tip is read back from the chain (amount and memo); bad input moves nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

import pytest
from solders.keypair import Keypair
from solders.pubkey import Pubkey

from djmesh.ledger.solana import LiteSVMBackend, SolanaLedger
from djmesh.ledger.solana.config import SolanaConfig, SolanaConfigError
from djmesh.node.node import NodeOptions
from djmesh.node.services import NodeServices
from djmesh.protocol.errors import InvalidPayloadError
from djmesh.protocol.messages import Profile
from tests.helpers.cli import CliResult, CliRunner
from tests.helpers.network import LOOPBACK, bootstrap_server, make_home, wait_until

ONE_SOL = 1_000_000_000

pytestmark = pytest.mark.timeout(240)


async def test_a_sol_tip_reaches_the_address_in_the_peers_profile(djmesh: CliRunner, tmp_path: Path) -> None:
    backend = LiteSVMBackend()
    wallet_a = SolanaLedger(backend, Keypair())
    await wallet_a.airdrop(2 * ONE_SOL)
    address_b = str(Keypair().pubkey())
    async with bootstrap_server() as boot, contextlib.AsyncExitStack() as stack:

        def services(name: str, **kwargs: object) -> NodeServices:
            options = NodeOptions(listen=[LOOPBACK], bootstrap=boot)
            return NodeServices(make_home(tmp_path, name), options=options, auto_join=False, **kwargs)  # type: ignore[arg-type]

        a = await stack.enter_async_context(services("dj-a", solana=wallet_a, control=True))
        b = await stack.enter_async_context(services("dj-b", control=True))

        async def run(home: str, *args: str) -> CliResult:
            """The real `djmesh` command against that node's control API (in a thread: the nodes run here)."""
            return await asyncio.to_thread(djmesh, "--home", str(tmp_path / home), *args)

        # DJ B has not said where it takes SOL yet: refused, nothing sent
        refused = await run("dj-a", "tip", b.node.peer_id, "0.25", "--chain", "sol")
        assert refused.returncode == 1 and "advertises no Solana address" in refused.stderr
        assert "Traceback" not in refused.stderr
        assert await wallet_a.sol_balance() == 2 * ONE_SOL

        await a.node.follow(b.node.peer_id)
        await b.node.set_profile(Profile(name="DJ Bea", wallets=(("sol", address_b),)))

        def bea_known() -> bool:
            profile = a.node.profile(b.node.peer_id)
            return profile is not None and dict(profile[0].wallets).get("sol") == address_b

        await wait_until(bea_known, what="DJ B's profile with its Solana address at DJ A's node")

        tipped = await run("dj-a", "tip", "DJ Bea", "0.25", "--chain", "sol", "--json")
        assert tipped.returncode == 0, tipped.stderr
        answer = tipped.json()
        assert answer["to"] == address_b and answer["amount_lamports"] == str(ONE_SOL // 4)
        assert answer["chain"] == "sol"
        # read back from the chain: the lamports arrived, with the tip's memo, in that transaction
        assert await wallet_a.sol_balance(address_b) == ONE_SOL // 4
        assert await wallet_a.read_memos(answer["tx"]) == ["djmesh tip"]
        left = await wallet_a.sol_balance()
        assert left < 2 * ONE_SOL - ONE_SOL // 4  # and the fee

        # more than the wallet holds: one line, nothing moved
        broke = await run("dj-a", "tip", "DJ Bea", "5", "--chain", "sol")
        assert broke.returncode == 1 and "not enough for this tip" in broke.stderr
        bad = await run("dj-a", "tip", "DJ Bea", "0.0000000001", "--chain", "sol")
        assert bad.returncode == 2 and "at most 9 decimals" in bad.stderr
        # a node without a Solana cluster says what to configure
        no_cluster = await run("dj-b", "tip", a.node.peer_id, "1000lamports", "--chain", "sol")
        assert no_cluster.returncode == 1 and "[solana]" in no_cluster.stderr
        assert await wallet_a.sol_balance() == left and await wallet_a.sol_balance(address_b) == ONE_SOL // 4


def test_a_profile_with_a_bad_solana_address_is_refused() -> None:
    # a key whose first byte is large: its address is 44 characters, so one more is never an address.
    # (A random key whose first byte is under 5 reads as 43 characters, and one more "1" makes another
    # valid 32-byte address: 1.4 % of random keys, so about 1 run in 70 failed with Keypair().)
    good = str(Pubkey(bytes([0xEE] * 32)))
    assert len(good) == 44
    assert Profile(name="x", wallets=(("sol", good),)).wallets == (("sol", good),)
    for bad in ("0x" + "ab" * 20, good[:20], good + "1", "1" * 44, "O" * 44):
        with pytest.raises(InvalidPayloadError, match="not a Solana address"):
            Profile.from_payload({"name": "x", "wallets": {"sol": bad}})
    Profile.from_payload({"name": "x", "wallets": {"eth": "anything"}})  # other chains are shown, not used


def test_the_solana_table_of_config_toml(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    assert SolanaConfig.load(path).rpc_url == ""
    path.write_text('[solana]\nrpc_url = "http://127.0.0.1:8899"\n')
    assert SolanaConfig.load(path).rpc_url == "http://127.0.0.1:8899"
    for body, error in (('rpc_url = "ftp://x"', "http"), ('rpc = "http://x"', "unknown keys")):
        path.write_text(f"[solana]\n{body}\n")
        with pytest.raises(SolanaConfigError, match=error):
            SolanaConfig.load(path)
