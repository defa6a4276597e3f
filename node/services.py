"""The composition root: a node and every service it runs, built in one place.

`djmesh node` (the daemon), the TUI's in-process node and each node of `djmesh demo` are all a
``NodeServices``: p2p (``Node``), the social features (``social``), live audio, battles, and, when config.toml's ``[ledger]`` names a
chain and the wallet unlocks, the prize escrow, pay-per-listen (payer and seller) and anonymous votes;
optionally the control API (which the CLI, the MIDI bridge and an attached TUI drive) and HTTP.

What differs between them is passed in, never looked up: the ledger (from config, or the demo's
dev-chain wallets), how battles are judged (``battles_factory``: a test or the demo may plug in a
lying judge), and the price of a DJ's battle streams.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from djmesh.node.battle.service import BattleService
from djmesh.node.errors import NodeError
from djmesh.node.home import NodeHome
from djmesh.node.live.service import LiveService
from djmesh.node.node import Node, NodeOptions
from djmesh.node.social import SocialService

if TYPE_CHECKING:
    from djmesh.ledger.evm.chain import EvmChain
    from djmesh.ledger.evm.sender import TxSender
    from djmesh.ledger.solana import SolanaLedger
    from djmesh.node.battle.anonymous_votes import AnonymousVotes
    from djmesh.node.battle.escrow import BattleEscrowService
    from djmesh.node.battle.gate_entry import GateEntries
    from djmesh.node.control import ControlServer
    from djmesh.node.control_params import Handler
    from djmesh.node.http import HttpServer
    from djmesh.node.live.listen_payer import ListenPayer
    from djmesh.node.live.listen_seller import ListenSeller

log = logging.getLogger(__name__)

#: what a node without a chain cannot do (its answers name these)
CHAIN_COMMANDS = (
    "battle challenge/accept --prize, battle sponsor, vote, reward claim, tip, live start --price "
    "and paying for priced streams"
)

BattleFactory = Callable[..., BattleService]
NO_SOLANA = "no Solana cluster: set rpc_url in the [solana] table of config.toml"


class NoLedgerError(NodeError):
    """A command needs a chain this node does not have; the message says how to give it one."""


@dataclass(frozen=True)
class NodeLedger:
    """The node's chain: a connection, its unlocked wallet and the contracts it uses ("" if none)."""

    chain: EvmChain
    sender: TxSender
    escrow: str = ""
    listen_channel: str = ""
    listen_gate: str = ""
    from_block: int = 0

    @property
    def address(self) -> str:
        return str(self.sender.address)


def open_ledger(home: NodeHome, passphrase: bytes | None) -> NodeLedger:
    """The chain config.toml's ``[ledger]`` names, with the wallet unlocked (blocking: web3).

    Raises ``NoLedgerError`` (no chain configured) or a ``LedgerError`` that says what is wrong.
    """
    from djmesh.ledger.evm.config import LedgerConfig  # web3 only once a chain is configured

    config = LedgerConfig.load(home.config_file)
    if not (config.rpc_url and config.chain_id):
        raise NoLedgerError(
            "no chain: copy rpc_url, chain_id and contracts from `djmesh devnet --json` into the [ledger] "
            "table of config.toml"
        )
    from djmesh.ledger.evm import EvmChain, TxSender, keystore_path, load_account

    keystore = keystore_path(home.root)
    if not keystore.exists():
        raise NoLedgerError(f"no wallet: create one with `djmesh wallet address` (it goes to {keystore})")
    account = load_account(keystore, passphrase)
    chain = EvmChain.connect(
        config.rpc_url,
        chain_id=config.chain_id,
        confirmations=config.confirmations,
        tx_timeout_s=config.tx_timeout_s,
    )
    return NodeLedger(
        chain,
        TxSender(chain, account),
        escrow=config.escrow,
        listen_channel=config.listen_channel,
        listen_gate=config.listen_gate,
        from_block=config.from_block,
    )


async def ledger_from_config(home: NodeHome, passphrase: bytes | None) -> tuple[NodeLedger | None, str]:
    """``open_ledger`` off the event loop: the ledger, or None and why (logged)."""
    from djmesh.ledger.errors import LedgerError
    from djmesh.node.identity import IdentityError

    try:
        return await asyncio.to_thread(open_ledger, home, passphrase), ""
    except (NoLedgerError, LedgerError, IdentityError, OSError) as exc:
        log.info("ledger off: %s", exc)
        return None, str(exc)


async def solana_from_config(home: NodeHome, passphrase: bytes | None) -> tuple[SolanaLedger | None, str]:
    """The Solana cluster config.toml's ``[solana]`` names, paying from the home's Solana wallet (made on
    first use, sealed with ``passphrase``); or None and why (logged)."""
    from djmesh.ledger.solana.config import SolanaConfig
    from djmesh.ledger.solana.errors import SolanaError

    try:
        config = await asyncio.to_thread(SolanaConfig.load, home.config_file)
        if not config.rpc_url:
            return None, NO_SOLANA
        # solders and solana-py cost 0.25 s to import: only a node with a cluster pays it
        from djmesh.ledger.solana import RpcBackend, SolanaLedger, open_wallet, wallet_path

        keypair = await asyncio.to_thread(open_wallet, wallet_path(home.root), passphrase=passphrase)
    except SolanaError as exc:
        log.info("solana off: %s", exc)
        return None, str(exc)
    return SolanaLedger(RpcBackend(config.rpc_url), keypair), ""


class NodeServices:
    """A node and its services; ``async with`` runs them (or ``start``/``close``)."""

    def __init__(
        self,
        home: NodeHome,
        *,
        options: NodeOptions | None = None,
        ledger: NodeLedger | None = None,
        no_ledger_reason: str = "",
        battles_factory: BattleFactory = BattleService,
        auto_join: bool = True,
        set_price_wei_per_s: int = 0,
        control: bool = False,
        http: str | None = None,
        verified_playout: bool | None = None,
        solana: SolanaLedger | None = None,
        no_solana_reason: str = "",
    ) -> None:
        """``set_price_wei_per_s``: a DJ's battle streams are priced at this (0: free); ``control``:
        serve the control API; ``http``: serve the overlay and JSON API on that address;
        ``verified_playout``: play only verified audio (None: config.toml's ``[live] verified_playout``);
        ``solana``: the node's Solana wallet on a cluster (SOL tips)."""
        self.home = home
        self.options = options or NodeOptions()
        self.ledger = ledger
        self.no_ledger_reason = no_ledger_reason or "no chain configured"
        self.solana = solana
        self.no_solana_reason = no_solana_reason or NO_SOLANA
        self.battles_factory = battles_factory
        self.auto_join = auto_join
        self.set_price_wei_per_s = set_price_wei_per_s
        self.serve_control = control
        self.http = http
        self.verified_playout = verified_playout
        self._node: Node | None = None
        self._live: LiveService | None = None
        self._battles: BattleService | None = None
        self.payer: ListenPayer | None = None
        self.seller: ListenSeller | None = None
        self.escrow: BattleEscrowService | None = None
        self.votes: AnonymousVotes | None = None
        self.gates: GateEntries | None = None
        self.control: ControlServer | None = None
        self.web: HttpServer | None = None
        self._stack = contextlib.AsyncExitStack()

    @classmethod
    async def from_config(
        cls, home: NodeHome, *, options: NodeOptions | None = None, **kwargs: Any
    ) -> NodeServices:
        """Services as config.toml says, the wallet unlocked with ``options.passphrase``."""
        options = options or NodeOptions()
        ledger, reason = await ledger_from_config(home, options.passphrase)
        if "solana" not in kwargs:
            kwargs["solana"], kwargs["no_solana_reason"] = await solana_from_config(home, options.passphrase)
        return cls(home, options=options, ledger=ledger, no_ledger_reason=reason, **kwargs)

    # -- the services, once started ----------------------------------------------------------------

    @property
    def node(self) -> Node:
        if self._node is None:
            raise NodeError("the node is not running")
        return self._node

    @property
    def social(self) -> SocialService:
        """Profiles, posts, follows, reactions, chat and crews (the node's own: its ingest needs it)."""
        return self.node.social

    @property
    def live(self) -> LiveService:
        if self._live is None:
            raise NodeError("the node is not running")
        return self._live

    @property
    def battles(self) -> BattleService:
        if self._battles is None:
            raise NodeError("the node is not running")
        return self._battles

    def need_ledger(self, what: str) -> NodeLedger:
        """The ledger, or a ``NoLedgerError`` that says ``what`` needs one and how to configure it."""
        if self.ledger is None:
            raise NoLedgerError(f"{what} needs a chain, and this node has none ({self.no_ledger_reason})")
        return self.ledger

    def need_solana(self, what: str) -> SolanaLedger:
        """The Solana wallet, or a ``NoLedgerError`` that says ``what`` needs one and how to configure it."""
        if self.solana is None:
            raise NoLedgerError(
                f"{what} needs a Solana cluster, and this node has none ({self.no_solana_reason})"
            )
        return self.solana

    # -- lifecycle ---------------------------------------------------------------------------------

    async def __aenter__(self) -> NodeServices:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def start(self) -> None:
        try:
            await self._start()
        except BaseException:
            await self.close()
            raise

    async def _start(self) -> None:
        enter = self._stack.enter_async_context
        self._node = node = await enter(Node(self.home, options=self.options))
        self._live = live = await enter(LiveService(node, verified_playout=self.verified_playout))
        if self.solana is not None:
            self._stack.push_async_callback(self.solana.backend.aclose)  # closed with the services
        ledger = self.ledger
        streams = None
        if ledger is not None and ledger.listen_channel:
            from djmesh.node.live.listen_payer import ListenPayer
            from djmesh.node.live.listen_seller import ListenSeller, PricedStreams

            self.payer = await enter(
                ListenPayer(node, live, ledger.chain, ledger.sender, ledger.listen_channel)
            )
            self.seller = await enter(
                ListenSeller(node, live, ledger.chain, ledger.sender, ledger.listen_channel)
            )
            if self.set_price_wei_per_s > 0:
                streams = PricedStreams(self.seller, wei_per_s=self.set_price_wei_per_s)
        crowd = None
        if ledger is not None and ledger.listen_gate:
            from djmesh.node.battle.anonymous_votes import AnonymousVotes
            from djmesh.node.battle.crowd import CrowdTally

            self.votes = await enter(
                AnonymousVotes(
                    node, ledger.chain, ledger.sender, ledger.listen_gate, from_block=ledger.from_block
                )
            )
            crowd = CrowdTally(self.votes)
        self._battles = battles = await enter(
            self.battles_factory(node, live, auto_join=self.auto_join, streams=streams, crowd_votes=crowd)
        )
        if self.votes is not None:
            from djmesh.node.battle.gate_entry import GateEntries

            self.gates = await enter(GateEntries(battles, self.votes))
        if ledger is not None and ledger.escrow:
            from djmesh.node.battle.escrow import BattleEscrowService

            self.escrow = await enter(
                BattleEscrowService(
                    node, battles, ledger.chain, ledger.sender, ledger.escrow, from_block=ledger.from_block
                )
            )
            if crowd is not None:
                crowd.escrow = self.escrow  # the DJs' wallet bindings, for battles without a prize
            if self.gates is not None:
                self.gates.escrow = self.escrow
        if self.serve_control:
            from djmesh.node.control import ControlServer

            self.control = await enter(ControlServer(node, extra_methods=self.control_methods()))
        if self.http is not None:
            from djmesh.node.http import HttpServer

            token = self.control.token if self.control is not None else None
            self.web = await enter(
                HttpServer(node, live=live, battles=battles, address=self.http, token=token)
            )

    async def close(self) -> None:
        await self._stack.aclose()
        self._node = self._live = self._battles = None
        self.payer = self.seller = self.escrow = self.votes = self.gates = None
        self.control = self.web = None

    # -- the control API ---------------------------------------------------------------------------

    def control_methods(self) -> dict[str, Handler]:
        """Every method this node's services answer (beyond the kernel's ``node.control.METHODS``)."""
        from djmesh.node.battle.control import battle_methods
        from djmesh.node.battle.vote_control import unavailable_vote_methods, vote_methods
        from djmesh.node.live.control import LIVE_METHODS
        from djmesh.node.money_control import money_methods
        from djmesh.node.p2p.netstats import NETWORK_METHODS
        from djmesh.node.wallet_control import WALLET_METHODS

        votes = (
            vote_methods(self.votes)
            if self.votes is not None
            else unavailable_vote_methods(
                self.no_ledger_reason if self.ledger is None else "no ListenGate in [ledger]"
            )
        )
        return {
            **LIVE_METHODS,
            **NETWORK_METHODS,
            **battle_methods(self.battles, self),
            **votes,
            **WALLET_METHODS,
            **money_methods(self),
        }
