"""What the app needs from a node, whichever way it reaches one (in-process, daemon, test fake).

Reads of live state (``status``, ``battles``) are synchronous and cheap so that screens can
poll them on a timer: that polling is the coalescing, whatever rate updates arrive at.
Everything that may wait on the network is ``async`` and runs in a worker.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any

from djmesh.node.live.sinks import NullSink, Sink, default_sink
from djmesh.node.p2p.netstats import Traffic, rates
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
    VoteOutcome,
    WalletView,
)
from djmesh.tui.playback import Output, Volume, VolumeSink

Alert = Callable[[str, str], None]  # (severity: information|warning|error, message)
Changed = Callable[[str], None]  # what changed: feed, chat, battle, peers, crews
Player = Callable[[Sink], Awaitable[None]]  # plays a stream into the sink until it ends
VOTES_OFF = ("anonymous votes are off", "unknown method")  # the node has no ledger / is older


class BackendError(Exception):
    """A failure the user should read as a notification (never a traceback)."""


class Backend(ABC):
    """The app's only door to djmesh; see ``NodeBackend``, ``ControlBackend``."""

    mode = "offline"

    def __init__(self) -> None:
        self.alert: Alert = lambda severity, message: None
        self.changed: Changed = lambda what: None
        self.volume = Volume()
        self._traffic: Traffic | None = None
        self.traffic_rates: tuple[float, float] | None = None  # bytes/s (out, in) over the last poll
        self.hearing: str | None = None  # which DJ's stream plays (a label), None: none
        self.output: Output | None = None  # the sound device this process plays to (None: not asked yet)
        self.open_sink: Callable[[int], Sink] = self._open_output
        self.sink: VolumeSink | None = None  # what plays the stream we hear
        self._playing: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Bring the node up (or attach to one)."""
        return None

    async def stop(self) -> None:
        """Shut down gracefully; called once when the app quits (after its screen is gone)."""
        return None

    def stopping_note(self) -> str | None:
        """What to tell the user while ``stop`` runs after the screen is gone (None: nothing slow)."""
        return None

    async def poll(self) -> None:
        """Refresh whatever ``status`` caches (called about once a second)."""
        return None

    @abstractmethod
    def status(self) -> NodeStatus: ...

    def note_traffic(self, reading: Traffic) -> None:
        """Called by ``poll`` with a fresh reading; the rate is taken against the previous one."""
        if self._traffic is not None:
            self.traffic_rates = rates(self._traffic, reading)
        self._traffic = reading

    def traffic_fields(self) -> dict[str, Any]:
        """The NodeStatus fields about bytes on the wire."""
        reading, found = self._traffic, self.traffic_rates
        return {
            "bytes_out_per_s": found[0] if found else None,
            "bytes_in_per_s": found[1] if found else None,
            "bytes_sent": reading.sent if reading else 0,
            "bytes_received": reading.received if reading else 0,
        }

    def battles(self) -> list[BattleView]:
        """Battles newest first, with live figures as of now."""
        return []

    @abstractmethod
    async def feed(self, limit: int = 50) -> list[FeedRow]: ...

    @abstractmethod
    async def post(self, text: str) -> None: ...

    @abstractmethod
    async def peers(self) -> list[PeerRow]: ...

    @abstractmethod
    async def profile(self, peer_id: str | None = None) -> ProfileView | None: ...

    @abstractmethod
    async def set_profile(self, name: str, bio: str) -> None: ...

    @abstractmethod
    async def follow(self, peer_id: str) -> None: ...

    @abstractmethod
    async def crews(self) -> list[CrewRow]: ...

    @abstractmethod
    async def create_crew(self, name: str) -> str: ...

    @abstractmethod
    async def chat_history(self, room: str, limit: int = 100) -> list[ChatLine]: ...

    @abstractmethod
    async def chat(self, room: str, text: str) -> None: ...

    async def reaction(self, target_id: str, emoji: str) -> None:
        """Publish a signed reaction to the message ``target_id`` (a battle, a post)."""
        raise BackendError("this node cannot react")

    async def react(self, battle_id: str, emoji: str) -> None:
        """A reaction to the battle, echoed in its chat so the room sees it."""
        from djmesh.node.battle.view import battle_room

        await self.reaction(battle_id, emoji)
        await self.chat(battle_room(battle_id), emoji)

    async def command(self, method: str, **params: Any) -> Any:
        """Run one of the node's commands: the control method that `djmesh battle ...`, `vote`, `tip`,
        `reward claim` and `live start` call, with the same parameters and answer
        (``node.battle.control``, ``node.money_control``), so the app and the CLI share one code path.

        ``BackendError`` carries the node's one-line refusal (no chain, unknown battle, empty wallet...).
        """
        raise BackendError(f"unknown method {method!r}: this node runs no commands")

    async def anonymous_vote(self, battle_id: str, side: str) -> VoteOutcome | str:
        """Cast the ledger's anonymous vote (its ZK proof relayed by a peer, one vote per listener),
        through the ``vote`` command (it pays the listen unit first when needed).

        Returns the outcome, or why this node has no anonymous votes (then ``vote`` falls back to
        the reaction). A failed vote (no relayer, already voted) raises ``BackendError``.
        """
        try:
            found = await self.command("vote", battle_id=battle_id, choice=side)
        except BackendError as exc:
            if any(marker in str(exc) for marker in VOTES_OFF):
                return str(exc)
            raise
        return VoteOutcome(side=side, binding=True, tx=str(found["tx"]), nullifier=str(found["nullifier"]))

    async def vote(self, battle_id: str, side: str) -> VoteOutcome:
        """The crowd's vote: on the ledger when the node can, else a signed ``vote:a``/``vote:b`` reaction.

        The reaction is gossip, not binding: the committee's verdict decides the battle. The
        anonymous vote is never echoed in the battle's chat, which would say who voted.
        """
        from djmesh.node.battle.view import battle_room

        if side not in ("a", "b"):
            raise BackendError(f"vote for DJ A or DJ B, not {side!r}")
        outcome = await self.anonymous_vote(battle_id, side)
        if isinstance(outcome, VoteOutcome):
            return outcome
        await self.reaction(battle_id, f"vote:{side}")
        await self.chat(battle_room(battle_id), f"🗳 votes for DJ {side.upper()}")
        return VoteOutcome(side=side, binding=False, why_not_binding=outcome)

    async def leaderboard(self) -> list[LeaderRow]:
        """Every genre's leaderboard, by genre then rank (ratings from the verified results)."""
        raise BackendError("this node keeps no leaderboard")

    async def notifications(self, limit: int = 50) -> list[NoticeRow]:
        """Newest first: mentions, follows, reactions, challenges, and results of our battles."""
        return []

    async def wallet(self) -> WalletView:
        """The node's wallet as the chain has it; ``BackendError`` says why when it cannot be read."""
        raise BackendError("this node has no wallet")

    def player(self, stream_id: str) -> Player:
        """How this backend plays ``stream_id`` into a sink; ``BackendError`` when it cannot now."""
        raise BackendError("this node cannot play audio")

    async def hear(self, stream_id: str | None, label: str = "") -> None:
        """Play ``stream_id`` through ``self.volume``, or stop playing with ``None``.

        One stream plays at a time; asking for another stops the first.
        """
        if self._playing is not None:
            self._playing.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._playing
            self._playing = None
        if self.sink is not None:
            self.sink.close()  # a cancelled player does not close its sink
        self.hearing = None
        if stream_id is None:
            return
        play = self.player(stream_id)
        self.sink = VolumeSink(self.volume, self.open_sink)
        self.hearing = label or stream_id[:12]
        self._playing = asyncio.ensure_future(self._play(play, self.sink, self.hearing))

    async def _play(self, play: Player, sink: VolumeSink, label: str) -> None:
        try:
            await play(sink)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a lost stream is a notification, not a crash
            self.alert("warning", f"Stopped hearing {label}: {exc}")
        finally:
            sink.close()
        if self.hearing == label:
            self.hearing = None

    def _open_output(self, channels: int) -> Sink:
        """The sound device, or the null sink when ``find_output`` found none (not asked again)."""
        if self.output is not None and self.output.device is None:
            return NullSink()
        return default_sink(channels)


class LogBuffer(logging.Handler):
    """Keeps the last log records for the Log screen (the terminal itself belongs to the UI)."""

    def __init__(self, capacity: int = 500) -> None:
        super().__init__(logging.INFO)
        self.lines: deque[str] = deque(maxlen=capacity)
        self.total = 0
        self.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s", "%H:%M:%S"))

    def emit(self, record: logging.LogRecord) -> None:
        if not quiet_libp2p(record):
            return
        try:
            self.lines.append(self.format(record))
            self.total += 1
        except Exception:  # a log line must never take the UI down
            self.handleError(record)


def quiet_libp2p(record: logging.LogRecord) -> bool:
    """A log filter: py-libp2p narrates every dial at INFO; only its warnings are worth reading."""
    return record.levelno >= logging.WARNING or not record.name.startswith("libp2p")


def short(peer_id: str) -> str:
    """The tail of a peer ID: enough to tell peers apart on screen."""
    return peer_id[-8:] if len(peer_id) > 8 else peer_id
