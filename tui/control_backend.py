"""The app attached to a node daemon already running at the home, through its control API.

The daemon owns the node; the app only calls control methods, so quitting the app leaves
the daemon running. Battles come from the daemon's battle methods (``node.battle.control``),
refreshed once a second. The live meters and the audio come from the daemon too, as streaming
control answers (``node.live.feed``): the daemon analyses its battles' streams and sends their
figures a dozen times a second (``live_meters``), and plays out the stream we hear to us
(``live_audio``), which this process sends to its sound device.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from djmesh.node.control import ControlClient
from djmesh.node.errors import ControlError, NodeError
from djmesh.node.home import NodeHome
from djmesh.node.live.feed import MAX_METER_STREAMS, audio_pcm
from djmesh.node.live.meters import Meter
from djmesh.node.live.sinks import Sink
from djmesh.node.p2p.netstats import Traffic
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

log = logging.getLogger(__name__)

COMMAND_TIMEOUT_S = 300.0  # as the CLI's money commands: a stake waits for its transaction
METERS_HZ = 12.0
METERS_RETRY_S = 2.0
FINISHED = ("done", "cancelled")
NAME_RETRY_S = 10.0
NAMES_PER_POLL = 4


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
        self.meters: dict[str, Meter] = {}  # stream -> the figures the daemon measured
        self._metered: tuple[str, ...] = ()
        self._metering: asyncio.Task[None] | None = None
        self._names: dict[str, tuple[str, float | None]] = {}  # peer -> (name, retry after)

    async def _call(self, method: str, **params: Any) -> Any:
        try:
            return await self.client.call(method, **params)
        except (ControlError, NodeError, OSError) as exc:
            raise BackendError(str(exc)) from exc

    async def start(self) -> None:
        await self.poll()

    async def stop(self) -> None:
        with contextlib.suppress(Exception):
            await self.hear(None)
        metering = self._metering
        self._follow_meters(())
        if metering is not None:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await metering

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
        self._follow_meters(self._live_streams())
        await self._learn_names()

    def status(self) -> NodeStatus:
        return self._status

    def battles(self) -> list[BattleView]:
        now = int(time.time() * 1000)
        return [
            battle_view(data, now_ms=now, name_of=self.name_of, meter_of=self._meter_of)
            for data in self._battles
        ]

    # -- names ---------------------------------------------------------------------------------

    def name_of(self, peer_id: str) -> str:
        """The DJ's profile name once the daemon told us, else the tail of the peer ID."""
        found = self._names.get(peer_id)
        return found[0] if found else short(peer_id)

    async def _learn_names(self) -> None:
        """Ask the daemon for the profiles of the battles' DJs we have no name for (a few per poll)."""
        now = time.monotonic()
        wanted = [
            str(peer)
            for data in self._battles
            for peer in (data.get("djs") or {}).values()
            if not (found := self._names.get(str(peer))) or (found[1] is not None and now >= found[1])
        ]
        for peer in list(dict.fromkeys(wanted))[:NAMES_PER_POLL]:
            try:
                profile = await self._call("profile_show", peer_id=peer)
            except BackendError:
                profile = None
            name = profile.get("name") if isinstance(profile, dict) else None
            if isinstance(name, str) and name:
                self._names[peer] = (name, None)
            else:
                self._names[peer] = (short(peer), now + NAME_RETRY_S)

    # -- live meters and audio -----------------------------------------------------------------

    def _live_streams(self) -> tuple[str, ...]:
        """The DJs' streams of the battles not finished yet, newest battle first."""
        streams: list[str] = []
        for data in self._battles:
            if data.get("phase") in FINISHED:
                continue
            for tracklist in (data.get("tracklists") or {}).values():
                stream = tracklist.get("stream") if isinstance(tracklist, dict) else None
                if isinstance(stream, str) and stream not in streams:
                    streams.append(stream)
        return tuple(streams[:MAX_METER_STREAMS])

    def _follow_meters(self, streams: tuple[str, ...]) -> None:
        """Keep one ``live_meters`` answer open for ``streams`` (reopened when they change)."""
        if streams == self._metered and (streams == () or self._metering is not None):
            return
        if self._metering is not None:
            self._metering.cancel()
            self._metering = None
        self._metered = streams
        if streams:
            self._metering = asyncio.ensure_future(self._read_meters(streams))

    async def _read_meters(self, streams: tuple[str, ...]) -> None:
        while True:
            try:
                async for frame in self.client.stream("live_meters", streams=list(streams), hz=METERS_HZ):
                    for stream, figures in frame.items() if isinstance(frame, dict) else ():
                        if stream in streams and isinstance(figures, dict):
                            self.meters.setdefault(stream, Meter()).show(figures)
            except ControlError as exc:
                if "unknown method" in str(exc):  # an older daemon: the meters stay dark
                    self.alert("warning", "The daemon sends no live meters (it is older than this app)")
                    return
                log.info("live meters: %s; asking again", exc)
            except (NodeError, OSError, ValueError) as exc:
                log.info("live meters: %s; asking again", exc)
            for stream in streams:  # while we ask again, what we show is not live
                meter = self.meters.get(stream)
                if meter is not None:
                    meter.streaming = False
            await asyncio.sleep(METERS_RETRY_S)

    def _meter_of(self, stream: str | None) -> Meter | None:
        return self.meters.get(stream) if stream else None

    def player(self, stream_id: str) -> Player:
        """The daemon plays the stream out and sends us its samples (``live_audio``)."""

        async def play(sink: Sink) -> None:
            async for item in self.client.stream("live_audio", stream_id=stream_id):
                if isinstance(item, dict) and "pcm" in item:
                    sink.play(audio_pcm(item))

        return play

    async def command(self, method: str, **params: Any) -> Any:
        """The daemon's control method, as the CLI calls it (money commands wait on the chain: a long
        timeout). A set file is read by the daemon, so it goes as an absolute path."""
        if isinstance(params.get("set"), str):
            params["set"] = absolute(params["set"])
        try:
            found = await ControlClient(self.home, timeout_s=COMMAND_TIMEOUT_S).call(method, **params)
        except (ControlError, NodeError, OSError) as exc:
            raise BackendError(str(exc)) from exc
        if method.startswith("battle"):
            await self.poll()
        return found

    async def feed(self, limit: int = 50) -> list[FeedRow]:
        items = await self._call("feed", limit=limit)
        return [
            FeedRow(i["id"], i.get("author_name") or short(i["author"]), i["text"], i["created_at"])
            for i in items
        ]

    async def post(self, text: str) -> None:
        await self._call("post", text=text)

    async def peers(self) -> list[PeerRow]:
        rows = await self._call("peers")
        return [
            PeerRow(p["peer_id"], tuple(p["addrs"]), p.get("latency_ms"), p.get("score"), p.get("name") or "")
            for p in rows
        ]

    async def profile(self, peer_id: str | None = None) -> ProfileView | None:
        found = await self._call("profile_show", peer_id=peer_id)
        who = peer_id or self._status.peer_id
        if found is None:
            return ProfileView(who, "", "")
        record = RecordView.from_json(found["record"]) if found.get("record") else None
        return ProfileView(
            who, found.get("name", ""), found.get("bio", ""), tuple(found.get("links") or ()), record=record
        )

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
            ChatLine(
                r.get("author_name") or short(r["author"]), str(r["payload"].get("text", "")), r["created_at"]
            )
            for r in rows
        ]

    async def chat(self, room: str, text: str) -> None:
        await self._call("chat", room=room, text=text)

    async def reaction(self, target_id: str, emoji: str) -> None:
        await self._call("react", id=target_id, emoji=emoji)

    async def leaderboard(self) -> list[LeaderRow]:
        return leader_rows(await self._call("leaderboard"))

    async def notifications(self, limit: int = 50) -> list[NoticeRow]:
        return [NoticeRow.from_json(row) for row in await self._call("notifications", limit=limit)]

    async def wallet(self) -> WalletView:
        return WalletView.from_json(await self._call("wallet"))
