"""What the app needs from a node, whichever way it reaches one (in-process, daemon, test fake).

Reads of live state (``status``, ``battles``) are synchronous and cheap so that screens can
poll them on a timer: that polling is the coalescing, whatever rate updates arrive at.
Everything that may wait on the network is ``async`` and runs in a worker.
"""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import Callable

from djmesh.tui.model import BattleView, ChatLine, CrewRow, FeedRow, NodeStatus, PeerRow, ProfileView

Alert = Callable[[str, str], None]  # (severity: information|warning|error, message)
Changed = Callable[[str], None]  # what changed: feed, chat, battle, peers, crews


class BackendError(Exception):
    """A failure the user should read as a notification (never a traceback)."""


class Backend(ABC):
    """The app's only door to djmesh; see ``NodeBackend``, ``ControlBackend``."""

    mode = "offline"

    def __init__(self) -> None:
        self.alert: Alert = lambda severity, message: None
        self.changed: Changed = lambda what: None

    async def start(self) -> None:
        """Bring the node up (or attach to one)."""
        return None

    async def stop(self) -> None:
        """Shut down gracefully; called once when the app quits."""
        return None

    async def poll(self) -> None:
        """Refresh whatever ``status`` caches (called about once a second)."""
        return None

    @abstractmethod
    def status(self) -> NodeStatus: ...

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

    async def react(self, battle_id: str, emoji: str) -> None:
        raise BackendError("reactions need a node running in-process")


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
