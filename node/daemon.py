"""`djmesh node`: a headless node in the foreground, driven through the control API."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import AsyncIterator, Sequence
from typing import Any

from djmesh.node.control import ControlServer
from djmesh.node.home import NodeHome
from djmesh.node.node import Node, NodeOptions

log = logging.getLogger(__name__)


async def wait_for_stop_signal() -> None:
    """Returns on SIGINT or SIGTERM, so the caller can shut down gracefully."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)


async def run_daemon(
    home: NodeHome,
    *,
    listen: Sequence[str] | None = None,
    bootstrap: Sequence[str] | None = None,
    passphrase: bytes | None = None,
    http: str | None = None,
) -> int:
    from djmesh.node.battle.control import battle_methods
    from djmesh.node.battle.service import BattleService
    from djmesh.node.http import optional_http_server
    from djmesh.node.live.control import LIVE_METHODS
    from djmesh.node.live.service import LiveService
    from djmesh.node.p2p.netstats import NETWORK_METHODS
    from djmesh.node.wallet_control import WALLET_METHODS

    options = NodeOptions(listen=listen, bootstrap=bootstrap, passphrase=passphrase)
    async with (
        Node(home, options=options) as node,
        LiveService(node) as live,
        BattleService(node, live) as battles,
        _vote_methods(node, home, passphrase) as vote_methods,
        ControlServer(
            node,
            extra_methods={
                **LIVE_METHODS,
                **NETWORK_METHODS,
                **battle_methods(battles),
                **vote_methods,
                **WALLET_METHODS,
            },
        ) as control,
        optional_http_server(http, node, live=live, battles=battles, token=control.token) as web,
    ):
        for address in node.listen_addrs:
            print(address, flush=True)
        if web is not None:
            print(f"{web.url}/", flush=True)  # the overlay is at /overlay
        await wait_for_stop_signal()
    return 0


@contextlib.asynccontextmanager
async def _vote_methods(
    node: Node, home: NodeHome, passphrase: bytes | None
) -> AsyncIterator[dict[str, Any]]:
    """Anonymous votes when config.toml's [ledger] names a chain and a ListenGate and the wallet unlocks.

    The node runs without them otherwise; the control methods then answer why.
    """
    from djmesh.ledger.errors import LedgerError
    from djmesh.node.battle.vote_control import unavailable_vote_methods, vote_methods

    try:
        votes = await asyncio.to_thread(_open_votes, node, home, passphrase)
    except (LedgerError, OSError) as exc:
        log.info("anonymous votes off: %s", exc)
        yield unavailable_vote_methods(str(exc))
        return
    async with votes:
        yield vote_methods(votes)


def _open_votes(node: Node, home: NodeHome, passphrase: bytes | None) -> Any:
    from djmesh.ledger.errors import LedgerError
    from djmesh.ledger.evm import EvmChain, LedgerConfig, TxSender, keystore_path, load_account
    from djmesh.node.battle.anonymous_votes import AnonymousVotes

    config = LedgerConfig.load(home.config_file)
    if not (config.rpc_url and config.chain_id and config.listen_gate):
        raise LedgerError("set ledger.rpc_url, ledger.chain_id and ledger.listen_gate in config.toml")
    account = load_account(keystore_path(home.root), passphrase)
    chain = EvmChain.connect(
        config.rpc_url,
        chain_id=config.chain_id,
        confirmations=config.confirmations,
        tx_timeout_s=config.tx_timeout_s,
    )
    return AnonymousVotes(
        node, chain, TxSender(chain, account), config.listen_gate, from_block=config.from_block
    )
