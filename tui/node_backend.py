"""The app's node when it runs one in-process: ``NodeServices``, as `djmesh node` builds it.

With ``demo_root`` it also runs the loopback demo network (``run_demo``) in the same event
loop and joins it as a quiet observer: it does not join battles' committees, so watching
never changes who judges.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections.abc import Coroutine
from pathlib import Path
from typing import TYPE_CHECKING, Any

from djmesh.node.battle.following import dj_streams, follow_battle, repaints
from djmesh.node.battle.service import BattleService, BattleState
from djmesh.node.battle.view import battles_json
from djmesh.node.clock import now_ms as _now_ms
from djmesh.node.control import METHODS, call_method
from djmesh.node.control_params import Handler
from djmesh.node.errors import ControlError, NodeError
from djmesh.node.events import MessageStored, Notification
from djmesh.node.home import NodeHome
from djmesh.node.identity import create_identity
from djmesh.node.live.feed import share_meters
from djmesh.node.live.meters import Meter, MeterBank
from djmesh.node.live.service import LiveService
from djmesh.node.live.sinks import Sink
from djmesh.node.node import Node, NodeOptions
from djmesh.node.p2p.netstats import discovery_status, traffic
from djmesh.node.services import NodeLedger, NodeServices
from djmesh.node.tasks import BackgroundTasks
from djmesh.tui.backend import Backend, BackendError, Player, short
from djmesh.tui.battle_json import battle_view
from djmesh.tui.model import (
    BattleView,
    ChatLine,
    CrewRow,
    FeedRow,
    LeaderRow,
    NodeStatus,
    NoticeRow,
    PeerRow,
    ProfileView,
    RecordView,
    WalletView,
    leader_rows,
)

if TYPE_CHECKING:
    from djmesh.node.demo_ledger import DemoLedger

log = logging.getLogger(__name__)

LOOPBACK = "/ip4/127.0.0.1/tcp/0"
DEMO_BOOT_TIMEOUT_S = 120.0
_BOOT_LINE = re.compile(r"bootstrap listening on (\S+)")


class NodeBackend(Backend):
    mode = "in-process node"

    def __init__(
        self,
        home: NodeHome,
        options: NodeOptions | None = None,
        *,
        demo_root: Path | None = None,
        ledger: NodeLedger | None = None,
    ) -> None:
        """``ledger``: a chain the embedder opened (e.g. a test's dev chain); None: config.toml's ``[ledger]``."""
        super().__init__()
        self.home = home
        self.ledger = ledger
        self.options = options or NodeOptions()
        self.demo_root = demo_root
        self.node: Node | None = None
        self.live: LiveService | None = None
        self.battle_service: BattleService | None = None
        self.meters: MeterBank | None = None
        self.demo_summary: dict[str, Any] | None = None
        self._demo: asyncio.Task[None] | None = None
        self._demo_ledger: asyncio.Future[DemoLedger | None] | None = None
        self.services: NodeServices | None = None
        self._tasks = BackgroundTasks("tui")
        self._joined: set[bytes] = set()
        self._methods: dict[str, Handler] | None = None  # the node's control methods, once it runs
        if demo_root is not None:
            self.mode = "in-process node + demo network"

    # -- lifecycle -----------------------------------------------------------------------------

    async def start(self) -> None:
        self.home.ensure()
        if not self.home.key_file.exists() and self.options.identity is None:
            identity = create_identity(self.home.key_file)
            self.alert("information", f"New identity {short(identity.peer_id)} created in {self.home.root}")
        options = self.options
        if self.demo_root is not None:
            boot = await self._start_demo(self.demo_root)
            options = NodeOptions(
                listen=[LOOPBACK], bootstrap=[boot], passphrase=options.passphrase, identity=options.identity
            )
        if self._demo_ledger is not None:
            services = NodeServices(self.home, options=options, auto_join=False)
            ledger = await self._demo_ledger
            if ledger is not None:  # the demo's sets are priced: this node pays to watch, as a viewer would
                money = await ledger.fund(self.home.root.name)
                services = NodeServices(
                    self.home, options=options, ledger=ledger.node_ledger(money), auto_join=False
                )
                money.services = services
        elif self.ledger is not None:
            services = NodeServices(self.home, options=options, ledger=self.ledger, auto_join=False)
        else:
            services = await NodeServices.from_config(self.home, options=options, auto_join=False)
        await services.start()
        self.services = services
        node = self.node = services.node
        self.live = services.live
        self.battle_service = services.battles
        self.battle_service.listeners.append(self._on_battle_action)
        self.meters = MeterBank.of(self.live, self.alert)
        share_meters(node, self.meters)  # a control server on this node reads the same analysis
        self._spawn(self._follow_events(node))
        self._spawn(self._housekeeping())

    async def _start_demo(self, root: Path) -> str:
        """Start the demo network and return its bootstrap address (announced as progress)."""
        from djmesh.node.demo import run_demo

        booted: asyncio.Future[str] = asyncio.get_running_loop().create_future()

        def progress(text: str) -> None:
            log.info("demo: %s", text)
            match = _BOOT_LINE.search(text)
            if match and not booted.done():
                booted.set_result(match.group(1))
            if not text.startswith("--live"):  # the demo's own Ctrl-C hint; here q quits
                self.alert("information", f"Demo: {text}")

        async def run() -> None:
            try:
                self.demo_summary = await run_demo(
                    root, keep_running=True, progress=progress, ledger_ready=self._demo_ledger
                )
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("demo failed: %s", exc, exc_info=True)
                self.alert("error", f"The demo network failed: {exc}")
                if not booted.done():
                    booted.set_exception(BackendError(f"the demo network did not start: {exc}"))
                if self._demo_ledger is not None and not self._demo_ledger.done():
                    self._demo_ledger.set_result(None)

        self._demo_ledger = asyncio.get_running_loop().create_future()
        self._demo = asyncio.ensure_future(run())
        return await asyncio.wait_for(booted, DEMO_BOOT_TIMEOUT_S)

    def stopping_note(self) -> str | None:
        if self.node is None and self._demo is None:
            return None
        what = "the node and the demo network" if self._demo is not None else "the node"
        return f"djmesh: stopping {what} (saying goodbye to peers)..."

    async def stop(self) -> None:
        with contextlib.suppress(Exception):
            await self.hear(None)
        await self._tasks.cancel_all()
        if self.meters is not None:
            await self.meters.close()
        if self.services is not None:
            await self.services.close()
            self.services = None
        self.node = self.live = self.battle_service = None
        self._methods = None
        if self._demo is not None:
            self._demo.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._demo

    def _spawn(self, coroutine: Coroutine[Any, Any, Any]) -> None:
        self._tasks.spawn(coroutine)

    def _running(self) -> Node:
        if self.node is None:
            raise BackendError("the node is still starting")
        return self.node

    def _on_battle_action(self, battle_id: bytes, action: object) -> None:
        """Phase changes repaint at once; an agreed result is news worth a notification."""
        if repaints(action):
            self.changed("battle")

    async def _follow_events(self, node: Node) -> None:
        async for event in node.events():
            if isinstance(event, Notification):
                self.changed("notifications")
                if event.reason == "crew_invite":  # listed notifications are toasted by the app (tui.notices)
                    self.alert(
                        "information",
                        event.text or f"crew invite from {self.name_of(event.envelope.author_peer_id)}",
                    )
            elif isinstance(event, MessageStored):
                kind = event.envelope.kind
                if kind == "chat":
                    self.changed("chat")
                elif kind == "post":
                    self.changed("feed")
                elif kind.startswith("crew"):
                    self.changed("crews")

    async def _housekeeping(self) -> None:
        """Follow every battle we hear of: its topic, its chat room and its DJs' streams."""
        while True:
            service, node = self.battle_service, self.node
            if service is not None and node is not None:
                for battle_id, state in list(service.battles.items()):
                    if battle_id not in self._joined:
                        self._joined.add(battle_id)
                        try:
                            await follow_battle(node, battle_id)
                        except Exception as exc:
                            log.info("following battle %s failed: %s", battle_id.hex()[:12], exc)
                    self._watch_streams(state)
            await asyncio.sleep(0.5)

    def _watch_streams(self, state: BattleState) -> None:
        if self.meters is None or state.done.is_set():
            return
        for side, stream in dj_streams(state).items():
            self.meters.watch(stream, f"DJ {side.upper()}")

    # -- reads ---------------------------------------------------------------------------------

    def name_of(self, peer_id: str) -> str:
        """A peer's display name (``djmesh.node.names``: profile name, short ID where needed)."""
        return self.node.names.name(peer_id) if self.node is not None else short(peer_id)

    def status(self) -> NodeStatus:
        node = self.node
        if node is None:
            return NodeStatus(
                peer_id="", mode=f"{self.mode} (starting)", peers=0, messages=0, home=str(self.home.root)
            )
        return NodeStatus(
            peer_id=node.peer_id,
            mode=self.mode,
            peers=len(node.peers()),
            messages=node.store.count(),
            listen_addrs=tuple(node.listen_addrs),
            bootstrap=tuple(node.options.bootstrap or node.config.bootstrap),
            dropped=dict(node.dropped),
            home=str(self.home.root),
            discovery=discovery_status(node.host).to_json(),
            **self.traffic_fields(),
        )

    async def poll(self) -> None:
        if self.node is not None:
            self.note_traffic(traffic(self.node.host))

    def battles(self) -> list[BattleView]:
        if self.battle_service is None:
            return []
        now = _now_ms()
        return [
            battle_view(data, now_ms=now, name_of=self.name_of, meter_of=self._meter_of)
            for data in battles_json(self.battle_service)
        ]

    def _meter_of(self, stream: str | None) -> Meter | None:
        return self.meters.meters.get(stream) if self.meters and stream else None

    async def command(self, method: str, **params: Any) -> Any:
        """The control method itself, called in-process as the control server calls it (``call_method``)."""
        services, node = self.services, self.node
        if services is None or node is None:
            raise BackendError("the node is still starting")
        if self._methods is None:
            self._methods = {**METHODS, **services.control_methods()}
        handler = self._methods.get(method)
        if handler is None:
            raise BackendError(f"unknown method {method!r}")
        try:
            return await call_method(handler, node, method, params)
        except ControlError as exc:
            raise BackendError(str(exc)) from exc

    def player(self, stream_id: str) -> Player:
        live = self.live
        if live is None:
            raise BackendError("the node is still starting")

        async def play(sink: Sink) -> None:
            await live.listen(stream_id, sink=sink)

        return play

    async def feed(self, limit: int = 50) -> list[FeedRow]:
        node = self._running()
        return [
            FeedRow(item.id, self.name_of(item.author), item.text, item.created_at)
            for item in node.feed(limit=limit)
        ]

    async def post(self, text: str) -> None:
        await self._running().post(text)

    async def peers(self) -> list[PeerRow]:
        node = self._running()
        return [
            PeerRow(p.peer_id, p.addrs, p.latency_ms, p.score, node.names.name(p.peer_id))
            for p in node.peers()
        ]

    async def profile(self, peer_id: str | None = None) -> ProfileView | None:
        node = self._running()
        try:
            found = node.profile(peer_id)
        except NodeError as exc:
            raise BackendError(str(exc)) from exc
        who = peer_id or node.peer_id
        following = len(node.view.following()) if peer_id is None else 0
        record = RecordView.from_json(node.record(who))
        if found is None:
            name = node.config.name if peer_id is None else ""
            return ProfileView(who, name, "", following=following, record=record)
        profile, _updated = found
        return ProfileView(who, profile.name, profile.bio, profile.links, following, record)

    async def set_profile(self, name: str, bio: str) -> None:
        await self._running().social.update_profile(name=name, bio=bio)

    async def follow(self, peer_id: str) -> None:
        try:
            await self._running().follow(peer_id)
        except NodeError as exc:
            raise BackendError(str(exc)) from exc

    async def crews(self) -> list[CrewRow]:
        node = self._running()
        return [
            CrewRow(s.crew_id.hex(), s.name, len(s.members), node.public_key in s.admins)
            for s in node.view.crews()
        ]

    async def create_crew(self, name: str) -> str:
        return (await self._running().create_crew(name)).hex()

    async def chat_history(self, room: str, limit: int = 100) -> list[ChatLine]:
        lines = []
        for envelope in self._running().chat_history(room, limit=limit):
            text = getattr(envelope.message, "text", "")
            lines.append(ChatLine(self.name_of(envelope.author_peer_id), text, envelope.created_at_ms))
        return lines

    async def chat(self, room: str, text: str) -> None:
        await self._running().chat(room, text)

    async def reaction(self, target_id: str, emoji: str) -> None:
        try:
            await self._running().react(bytes.fromhex(target_id), emoji)
        except (NodeError, ValueError) as exc:
            raise BackendError(str(exc)) from exc

    async def wallet(self) -> WalletView:
        from djmesh.node.wallet_control import wallet_json

        try:
            return WalletView.from_json(await wallet_json(self.home))
        except NodeError as exc:
            raise BackendError(str(exc)) from exc

    async def leaderboard(self) -> list[LeaderRow]:
        return leader_rows(self._running().leaderboard())

    async def notifications(self, limit: int = 50) -> list[NoticeRow]:
        node = self._running()
        return [
            NoticeRow.from_json(n.as_json(node.names, node.public_key))
            for n in node.notifications(limit=limit)
        ]
