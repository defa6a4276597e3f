"""The Wallet screen and the crowd vote: fixed data, real nodes, and a real chain (`djmesh devnet`)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from djmesh.ledger.evm import EvmChain, ListenChannels, TxSender, create_keystore, keystore_path, load_account
from djmesh.ledger.solana.wallet import create_wallet, wallet_path
from djmesh.ledger.toolchain import find_anvil
from djmesh.node.battle.vote_control import unavailable_vote_methods
from djmesh.node.control import ControlServer
from djmesh.node.home import NodeHome
from djmesh.node.node import Node, NodeOptions
from djmesh.node.wallet_control import WALLET_METHODS
from djmesh.tui.app import DjmeshApp
from djmesh.tui.backend import Backend
from djmesh.tui.control_backend import ControlBackend
from djmesh.tui.node_backend import NodeBackend
from djmesh.tui.screens.battle import BattleScreen
from djmesh.tui.screens.wallet import eth
from tests.helpers.cli import CliRunner
from tests.helpers.devnet import devnet
from tests.helpers.network import LOOPBACK, make_home, wait_until
from tests.tui.fake import FixedBackend
from tests.tui.test_app import screen_text

pytestmark = pytest.mark.timeout(120)
SIZE = (150, 40)
PASSPHRASE = b"tui wallet"
BATTLE = "7f3a" * 16


def notes(app: DjmeshApp) -> list[str]:
    return [n.message for n in app._notifications]


def test_eth_amounts_are_exact() -> None:
    assert eth(0) == "0 ETH"
    assert eth(15 * 10**17) == "1.5 ETH"
    assert eth(1) == "0.000000000000000001 ETH"
    assert eth(123 * 10**18) == "123 ETH"


@contextlib.asynccontextmanager
async def attached(home: NodeHome) -> AsyncIterator[ControlBackend]:
    """A real node serving the wallet method and a ledger-less node's vote methods, and an app's backend."""
    async with (
        Node(home, options=NodeOptions(listen=[LOOPBACK], bootstrap=[])) as node,
        ControlServer(
            node, extra_methods={**WALLET_METHODS, **unavailable_vote_methods("no [ledger] table")}
        ),
    ):
        yield ControlBackend(node.home)


async def wallet_screen_text(backend: Backend, *expected: str) -> str:
    """The wallet screen's text once all of ``expected`` shows (the table's columns settle as rows arrive)."""
    app = DjmeshApp(backend, watch_peers=False)
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(app.ready.is_set, what="the app's node")
        await pilot.press("w")
        await wait_until(
            lambda: all(e in screen_text(app) for e in expected), timeout=60, what=lambda: screen_text(app)
        )
        text = screen_text(app)
        assert not any("Traceback" in n for n in notes(app))
        await pilot.press("q")
        await pilot.pause()
    return text


async def not_configured_note(backend: Backend) -> None:
    app = DjmeshApp(backend, watch_peers=False)
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(app.ready.is_set, what="the app's node")
        await pilot.press("w")
        await wait_until(lambda: any("Wallet not available" in n for n in notes(app)), what="a note")
        assert "the ledger is not configured" in screen_text(app)
        assert "[ledger]" in " ".join(notes(app))
        await pilot.press("q")
        await pilot.pause()


async def test_wallet_screen_says_when_the_ledger_is_not_configured(tmp_path: Path) -> None:
    await not_configured_note(
        NodeBackend(make_home(tmp_path, "tui"), NodeOptions(listen=[LOOPBACK], bootstrap=[]))
    )
    async with attached(make_home(tmp_path, "daemon")) as backend:
        await not_configured_note(backend)


async def test_wallet_screen_says_when_the_rpc_is_unreachable(tmp_path: Path) -> None:
    home = make_home(tmp_path, "tui")
    create_keystore(keystore_path(home.root), PASSPHRASE, scrypt_n=1024)
    _configure(home, {"rpc_url": "http://127.0.0.1:9", "chain_id": 31337, "contracts": {}})
    app = DjmeshApp(NodeBackend(home, NodeOptions(listen=[LOOPBACK], bootstrap=[])), watch_peers=False)
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(app.ready.is_set, what="the app's node")
        await pilot.press("w")
        await wait_until(lambda: any("Wallet not available" in n for n in notes(app)), what="a note")
        assert "127.0.0.1:9" in notes(app)[-1], notes(app)
        await pilot.press("q")
        await pilot.pause()


async def test_vote_falls_back_to_a_reaction_when_the_daemon_has_no_ledger(tmp_path: Path) -> None:
    async with attached(make_home(tmp_path, "daemon")) as backend:
        outcome = await backend.vote(BATTLE, "a")
    assert not outcome.binding and "no [ledger] table" in outcome.why_not_binding


async def test_vote_without_anonymous_votes_is_a_reaction_said_to_be_not_binding() -> None:
    backend = FixedBackend()
    app = DjmeshApp(backend, watch_peers=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        await pilot.press("v", "a")
        await wait_until(lambda: any("not binding" in n for n in notes(app)), what="the vote's note")
        assert backend.reactions == [(BATTLE, "vote:a")] and backend.ballots == []
        assert "this test node has no ledger" in notes(app)[-1]


async def test_vote_with_anonymous_votes_shows_the_tx_and_nullifier_and_errors() -> None:
    backend = FixedBackend(anonymous_votes=True)
    app = DjmeshApp(backend, watch_peers=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        chat_before = list(backend.lines)
        await pilot.press("v", "b")
        await wait_until(lambda: any("nullifier" in n for n in notes(app)), what="the vote's receipt")
        assert f"tx 0x{'7a' * 32}" in notes(app)[-1] and f"nullifier 0x{'5e' * 32}" in notes(app)[-1]
        assert backend.ballots == [(BATTLE, "b")]
        assert backend.reactions == [] and backend.lines == chat_before  # anonymous: nothing says who
        await pilot.press("v", "a")
        await wait_until(lambda: any("already voted" in n for n in notes(app)), what="the refusal")
        assert notes(app)[-1].startswith("Vote not sent") and isinstance(app.screen, BattleScreen)


def _configure(home: NodeHome, net: dict[str, Any]) -> None:
    with home.config_file.open("a", encoding="utf-8") as out:
        out.write(f'\n[ledger]\nrpc_url = "{net["rpc_url"]}"\nchain_id = {net["chain_id"]}\n')
        for key, name in (("escrow", "BattleEscrow"), ("listen_channel", "ListenChannel")):
            if name in net["contracts"]:
                out.write(f'{key} = "{net["contracts"][name]}"\n')


@pytest.mark.skipif(find_anvil() is None, reason="anvil is not installed (scripts/setup installs it)")
async def test_wallet_screen_reads_a_real_chain_in_process_and_attached(
    djmesh: CliRunner, tmp_path: Path
) -> None:
    home, daemon_home = make_home(tmp_path, "tui"), make_home(tmp_path, "daemon")
    address = create_keystore(keystore_path(home.root), PASSPHRASE, scrypt_n=1024)
    solana = create_wallet(wallet_path(home.root), passphrase=PASSPHRASE)  # encrypted: read all the same
    payee = create_keystore(keystore_path(daemon_home.root), PASSPHRASE, scrypt_n=1024)
    with devnet(djmesh, home.root) as net:  # funds the home's wallet
        _configure(home, net)
        _configure(daemon_home, net)
        chain = EvmChain.connect(net["rpc_url"], chain_id=net["chain_id"])
        sender = TxSender(chain, load_account(keystore_path(home.root), PASSPHRASE))
        channel = ListenChannels(chain, net["contracts"]["ListenChannel"], sender).open(
            payee, 15 * 10**17, 3600
        )
        balance = eth(chain.balance(address))

        text = await wallet_screen_text(
            NodeBackend(home, NodeOptions(listen=[LOOPBACK], bootstrap=[])),
            address,
            f"#{channel}",
            "you pay",
            payee,
            str(solana.pubkey()),  # the Solana part is read apart from the EVM one: wait for both
        )
        assert balance in text and "1.5 ETH" in text and str(solana.pubkey()) in text
        row = next(line for line in text.splitlines() if f"#{channel}" in line)
        assert "you pay" in row and payee in row and "open" in row

        async with attached(daemon_home) as backend:  # the payee's side, through the control API
            text = await wallet_screen_text(
                backend, payee, f"#{channel}", "pays you", address, "(no Solana wallet)"
            )
        row = next(line for line in text.splitlines() if f"#{channel}" in line)
        assert "pays you" in row and address in row and "(no Solana wallet)" in text
