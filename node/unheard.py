"""Own messages gossiped while their topic's mesh was thin, to publish once more when it has filled.

Gossip reaches only the nodes meshed when a message passes and is not resent once it leaves the router's
cache. A node that publishes right after it starts (a DJ who challenges at once) has few or no mesh peers
yet, and its message reached nobody: measured with 30 viewers in separate processes, a challenge made
that early reached no node by gossip. The author holds its own messages, so it publishes each such
message once more when the topic's mesh has grown (receivers that have it see a duplicate). Bounded:
``MAX_UNHEARD`` entries, each kept at most as long as gossip carries a message.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

THIN_MESH = 4  # GossipSub's D_lo: below it a publish may reach a small corner of the network
MAX_UNHEARD = 256


@dataclass(frozen=True)
class _Entry:
    topic: str
    wire: bytes
    mesh_size: int
    expires_ms: int


class Unheard:
    def __init__(self, *, keep_ms: int, max_entries: int = MAX_UNHEARD) -> None:
        self._keep_ms = keep_ms
        self._max = max_entries
        self._entries: OrderedDict[tuple[str, bytes], _Entry] = OrderedDict()

    @staticmethod
    def thin(mesh_size: int) -> bool:
        return mesh_size < THIN_MESH

    def add(self, topic: str, content_id: bytes, wire: bytes, *, mesh_size: int, now_ms: int) -> None:
        self._entries[(topic, content_id)] = _Entry(topic, wire, mesh_size, now_ms + self._keep_ms)
        while len(self._entries) > self._max:
            self._entries.popitem(last=False)

    def topics(self) -> set[str]:
        return {entry.topic for entry in self._entries.values()}

    def ready(self, topic: str, mesh_size: int, now_ms: int) -> list[bytes]:
        """Messages on ``topic`` to publish again now that its mesh has ``mesh_size`` peers (each once):
        when it reached THIN_MESH, or grew past its size at publish time (a network smaller than that)."""
        out: list[bytes] = []
        for key, entry in list(self._entries.items()):
            if entry.expires_ms <= now_ms:
                del self._entries[key]
            elif entry.topic == topic and mesh_size >= min(THIN_MESH, entry.mesh_size + 1):
                del self._entries[key]
                out.append(entry.wire)
        return out
