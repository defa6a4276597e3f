"""Which peers joined a topic's mesh since the node last looked, to reconcile with them at once.

A node meshed after a message passed never gets it by gossip (see RECONCILE_EVERY_S in node/node.py); the
periodic reconciliation picks one random mesh peer every 30 s, so on a network still forming (a battle
announced as the nodes start) the last nodes waited minutes. A new mesh link is the moment the two ends
may hold different things, so each end asks the other for what it lacks, once per peer per
``COOLDOWN_MS`` (a peer that leaves and re-grafts does not buy a request each time). Bounded: the topics
are the node's own; the cooldown table holds ``MAX_PEERS`` peers, the oldest forgotten first.
"""

from __future__ import annotations

from collections import OrderedDict

COOLDOWN_MS = 5 * 60 * 1000
MAX_PEERS = 1024


class MeshNewcomers:
    def __init__(self, *, cooldown_ms: int = COOLDOWN_MS, max_peers: int = MAX_PEERS) -> None:
        self._cooldown_ms = cooldown_ms
        self._max = max_peers
        self._seen: dict[str, frozenset[str]] = {}
        self._asked: OrderedDict[str, int] = OrderedDict()

    def look(self, topic: str, mesh: list[str]) -> list[str]:
        """The peers of ``mesh`` that were not in ``topic``'s mesh at the last look."""
        now = frozenset(mesh)
        before = self._seen.get(topic, frozenset())
        self._seen[topic] = now
        return sorted(now - before)

    def forget(self, topic: str) -> None:
        self._seen.pop(topic, None)

    def due(self, peer: str, now_ms: int) -> bool:
        """True (and remembered) unless ``peer`` was asked within the cooldown."""
        asked = self._asked.get(peer)
        if asked is not None and now_ms - asked < self._cooldown_ms:
            return False
        self._asked[peer] = now_ms
        self._asked.move_to_end(peer)
        while len(self._asked) > self._max:
            self._asked.popitem(last=False)
        return True
