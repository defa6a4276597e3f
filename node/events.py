"""What a running node tells its embedder, through ``Node.events()``."""

from __future__ import annotations

from dataclasses import dataclass

from djmesh.protocol.envelope import SignedEnvelope


@dataclass(frozen=True)
class MessageStored:
    """A new message is in the store. ``via`` is ``local``, ``gossip`` or ``sync``."""

    envelope: SignedEnvelope
    via: str


@dataclass(frozen=True)
class MessageDropped:
    """Refused input, with the reason that went to the log."""

    peer: str | None
    topic: str | None
    reason: str


@dataclass(frozen=True)
class Notification:
    """A message that concerns us: ``mention``, ``follow``, ``reaction``, ``challenge``, ``result``
    or ``crew_invite`` (see ``djmesh.node.notices``); ``text`` says it in a line, names included."""

    reason: str
    envelope: SignedEnvelope
    text: str = ""


@dataclass(frozen=True)
class SyncFinished:
    peer: str
    received: int
    stored: int


NodeEvent = MessageStored | MessageDropped | Notification | SyncFinished
