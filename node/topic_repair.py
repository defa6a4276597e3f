"""When to look up a joined topic's peers again: soon while it has none, rarely once it has some.

A node's first lookup can fail for reasons that pass (a rendezvous point that timed out on a loaded
machine, a partition, peers that start a moment later). Waiting a whole repair round after that left a
node alone on a topic for a minute, so a topic still without mesh peers is looked up again after
``FIRST_RETRY_S``, then twice as long each time, up to ``EVERY_S``. One that has peers is checked every
``CHECK_S`` (a look at its local mesh, no traffic) and starts over from ``FIRST_RETRY_S`` when it has lost
them (a partition healed, its peers restarted). The topics are the node's own subscriptions, so no peer
can grow this table.
"""

from __future__ import annotations

from dataclasses import dataclass

FIRST_RETRY_S = 2.0
EVERY_S = 60.0
CHECK_S = 5.0


@dataclass
class _Entry:
    due_s: float
    backoff_s: float


class RepairSchedule:
    """Per topic, when it is next checked and how long a lonely topic waits after the next lookup."""

    def __init__(
        self, first_retry_s: float = FIRST_RETRY_S, every_s: float = EVERY_S, check_s: float = CHECK_S
    ) -> None:
        self._first = first_retry_s
        self._every = every_s
        self._check = check_s
        self._entries: dict[str, _Entry] = {}

    def looked_up(self, topic: str, now_s: float, *, retry_soon: bool = True) -> None:
        """A lookup for ``topic`` just ended: check it again after its backoff, which then doubles.

        ``retry_soon=False`` for a topic that is usually alone and needs nobody found (the node's own
        author and inbox topics: followers and senders look it up): checked at the repair round only."""
        entry = self._entries.get(topic)
        backoff = self._first if entry is None else entry.backoff_s
        if not retry_soon:
            backoff = self._every
        self._entries[topic] = _Entry(now_s + backoff, min(backoff * 2, self._every))

    def has_peers(self, topic: str, now_s: float) -> None:
        """``topic`` has mesh peers: look at it again soon; if it has lost them, retry soon again."""
        self._entries[topic] = _Entry(now_s + self._check, self._first)

    def forget(self, topic: str) -> None:
        self._entries.pop(topic, None)

    def due(self, now_s: float) -> list[str]:
        """Topics whose check is due, the longest overdue first."""
        ready = [(entry.due_s, topic) for topic, entry in self._entries.items() if entry.due_s <= now_s]
        return [topic for _, topic in sorted(ready)]

    def next_deadline(self) -> float | None:
        return min((entry.due_s for entry in self._entries.values()), default=None)
