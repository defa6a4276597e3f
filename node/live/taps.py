"""Local consumers of a stream: playout (low latency, provisional) and verified segments (canonical)."""

from __future__ import annotations

from typing import Protocol

from djmesh.node.live.sets import SetSegment
from djmesh.protocol.stream import Playout


class Tap(Protocol):
    def on_playout(self, item: Playout, now_us: int) -> None:
        """A frame reached its playout time (``payload`` None: it never arrived; conceal it)."""

    def on_segment(self, segment: SetSegment) -> None:
        """A segment verified against the DJ's signature (frames None where lost)."""

    def on_end(self, error: str | None) -> None:
        """The stream ended (``error``: why, if it was not a clean stop)."""
