"""The app attached to a node daemon already running at the home, through its control API.

The daemon owns the node; the app only calls control methods, so quitting the app leaves
the daemon running. Battles come from the daemon's battle methods (``node.battle.control``),
refreshed once a second; the live meters and audio need the stream's samples, which the
control API does not carry, so attached they stay dark.
"""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from djmesh.node.control import ControlClient
from djmesh.node.errors import ControlError, NodeError
from djmesh.node.home import NodeHome
from djmesh.node.p2p.netstats import Traffic
from djmesh.tui.backend import Backend, BackendError, short
from djmesh.tui.battle_json import battle_view
from djmesh.tui.model import (
    BattleView,
    ChatLine,
    CrewRow,
    FeedRow,
    NodeStatus,
    PeerRow,
    ProfileView,
    VoteOutcome,
    WalletView,
)

VOTES_OFF = ("anonymous votes are off", "unknown method")  # the daemon has no ledger / is older


def absolute(path: str) -> str:
    """Set files are read by the daemon, whose working directory is not ours."""
    return str(Path(path).expanduser().resolve())


class ControlBackend(Backend):
    mode = "attached to daemon"

    def __init__(self, home: NodeHome, client: ControlClient | None = None) -> None:
        super().__init__()
        self.home = home
        self.client = client or ControlClient(home, timeout_s=15.0)
        self._status = NodeStatus(peer_id="", mode=self.mode, peers=0, messages=0, home=str(home.root))
        self._battles: list[dict[str, Any]] = []
        self._battles_error: str | None = None

    async def _call(self, method: str, **params: Any) -> Any:
        try:
            return await self.client.call(method, **params)
        except (ControlError, NodeError, OSError) as exc:
            raise BackendError(str(exc)) from exc

    async def start(self) -> None:
        await self.poll()

    async def poll(self) -> None:
        """Refresh the cached status (the header reads it synchronously)."""
        found = await self._call("status")
        self._status = NodeStatus(
            peer_id=found["peer_id"],
            mode=self.mode,
            peers=int(found["peers"]),
            messages=int(found["messages"]),
            listen_addrs=tuple(found.get("listen_addrs") or ()),
            dropped=dict(found.get("dropped") or {}),
            home=str(self.home.root),
        )
        try:
            network = await self._call("network")
            self.note_traffic(
                Traffic(
                    float(network["at"]),
                    {int(k): (int(v[0]), int(v[1])) for k, v in network["connections"].items()},
                )
            )
            self._status = replace(
                self._status, discovery=dict(network["discovery"]), **self.traffic_fields()
            )
        except BackendError:  # an older daemon: the Peers screen shows no traffic figures
            pass
        try:
            self._battles = list(await self._call("battles"))
            self._battles_error = None
        except BackendError as exc:  # a daemon without battles: say so once, keep the rest working
            if self._battles_error != str(exc):
                self._battles_error = str(exc)
                self.alert("warning", f"The daemon does not list battles: {exc}")

    def status(self) -> NodeStatus:
        return self._status

    def battles(self) -> list[BattleView]:
        now = int(time.time() * 1000)
        return [battle_view(data, now_ms=now) for data in self._battles]

    async def announce_battle(
        self, opponent: str, set_path: str, *, title: str = "", genre: str = "house", start_in_s: float = 60.0
    ) -> str:
        found = await self._call(
            "battle_announce",
            opponent=opponent,
            set=set_path,
            title=title,
            genre=genre,
            start_in_s=start_in_s,
        )
        await self.poll()
        return str(found["battle_id"])

    async def accept_battle(self, battle_id: str, set_path: str) -> None:
        await self._call("battle_accept", battle_id=battle_id, set=absolute(set_path))
        await self.poll()

    async def join_battle(self, battle_id: str) -> None:
        await self._call("battle_join", battle_id=battle_id)

    async def feed(self, limit: int = 50) -> list[FeedRow]:
        items = await self._call("feed", limit=limit)
        return [FeedRow(i["id"], short(i["author"]), i["text"], i["created_at"]) for i in items]

    async def post(self, text: str) -> None:
        await self._call("post", text=text)

    async def peers(self) -> list[PeerRow]:
        rows = await self._call("peers")
        return [PeerRow(p["peer_id"], tuple(p["addrs"]), p.get("latency_ms"), p.get("score")) for p in rows]

    async def profile(self, peer_id: str | None = None) -> ProfileView | None:
        found = await self._call("profile_show", peer_id=peer_id)
        who = peer_id or self._status.peer_id
        if found is None:
            return ProfileView(who, "", "")
        return ProfileView(who, found.get("name", ""), found.get("bio", ""), tuple(found.get("links") or ()))

    async def set_profile(self, name: str, bio: str) -> None:
        await self._call("profile_set", name=name, bio=bio)

    async def follow(self, peer_id: str) -> None:
        await self._call("follow", peer_id=peer_id)

    async def crews(self) -> list[CrewRow]:
        rows = await self._call("crews")
        me = self._status.peer_id
        return [CrewRow(c["crew_id"], c["name"], len(c["members"]), me in c["admins"]) for c in rows]

    async def create_crew(self, name: str) -> str:
        return str((await self._call("crew_create", name=name))["crew_id"])

    async def chat_history(self, room: str, limit: int = 100) -> list[ChatLine]:
        rows = await self._call("chat", room=room, limit=limit)
        return [
            ChatLine(short(r["author"]), str(r["payload"].get("text", "")), r["created_at"]) for r in rows
        ]

    async def chat(self, room: str, text: str) -> None:
        await self._call("chat", room=room, text=text)

    async def reaction(self, target_id: str, emoji: str) -> None:
        await self._call("react", id=target_id, emoji=emoji)

    async def anonymous_vote(self, battle_id: str, side: str) -> VoteOutcome | str:
        try:
            found = await self.client.call("vote", battle_id=battle_id, choice=side)
        except ControlError as exc:
            if any(marker in str(exc) for marker in VOTES_OFF):
                return str(exc)
            raise BackendError(str(exc)) from exc
        except (NodeError, OSError) as exc:
            raise BackendError(str(exc)) from exc
        return VoteOutcome(side=side, binding=True, tx=str(found["tx"]), nullifier=str(found["nullifier"]))

    async def wallet(self) -> WalletView:
        return WalletView.from_json(await self._call("wallet"))
