"""History sync: the request/response messages a node uses to fetch what it missed.

Gossip carries only what is live; a node that was away asks peers for the messages of
some topics since a time. A request may also say which of those messages it already holds
(``have``: the first ``HAVE_PREFIX_BYTES`` of their content IDs), so that the periodic
reconciliation between mesh peers returns only what the asker lacks. Both sides are bounded: a request names at most
``MAX_SYNC_TOPICS`` topics and ``MAX_SYNC_LIMIT`` messages; a response holds at most that
many envelopes and ``MAX_SYNC_RESPONSE_BYTES``. Every returned envelope is validated by the
receiver exactly as if it had been gossiped. ``SyncLimiter`` bounds how often one peer may
ask, and ``SyncBudget`` bounds the bytes a node serves to all peers together (peer IDs cost
nothing, so a per-peer limit alone is multiplied by Sybils).
"""

from __future__ import annotations

from dataclasses import dataclass

from djmesh.protocol import cbor
from djmesh.protocol.envelope import MAX_ENVELOPE_BYTES
from djmesh.protocol.errors import MalformedMessageError, MessageTooLargeError
from djmesh.protocol.ratelimit import KeyedTokenBuckets, RateLimit

SYNC_PROTOCOL_ID = "/djmesh/sync/1.0.0"
MAX_SYNC_TOPICS = 64
MAX_SYNC_LIMIT = 500
MAX_SYNC_REQUEST_BYTES = 16 * 1024
MAX_SYNC_RESPONSE_BYTES = 4 * 1024 * 1024
_MAX_TOPIC_CHARS = 200
HAVE_PREFIX_BYTES = 8  # a collision hides one message from one asker until the next window; 2^-64 odds
MAX_SYNC_HAVE = 1500  # with a few topics, fits MAX_SYNC_REQUEST_BYTES (9 bytes each in CBOR)


def have_prefix(content_id: bytes) -> bytes:
    return content_id[:HAVE_PREFIX_BYTES]


@dataclass(frozen=True)
class SyncRequest:
    topics: tuple[str, ...]
    since_ms: int
    limit: int = MAX_SYNC_LIMIT
    have: frozenset[bytes] = frozenset()

    def encode(self) -> bytes:
        fields: dict[str | int, cbor.CborValue] = {
            "topics": list(self.topics),
            "since": self.since_ms,
            "limit": self.limit,
        }
        if self.have:
            fields["have"] = [prefix for prefix in sorted(self.have)]
        return cbor.encode(fields)

    @staticmethod
    def have_room(topics: list[str]) -> int:
        """How many ``have`` prefixes a request for ``topics`` can carry within MAX_SYNC_REQUEST_BYTES."""
        topic_bytes = sum(len(t.encode("utf-8")) + 3 for t in topics)
        return max(
            0, min(MAX_SYNC_HAVE, (MAX_SYNC_REQUEST_BYTES - topic_bytes - 64) // (HAVE_PREFIX_BYTES + 1))
        )

    @classmethod
    def decode(cls, data: bytes) -> SyncRequest:
        if len(data) > MAX_SYNC_REQUEST_BYTES:
            raise MessageTooLargeError("sync request too large")
        value = cbor.decode(data)
        if not isinstance(value, dict) or set(value) - {"have"} != {"topics", "since", "limit"}:
            raise MalformedMessageError(
                "sync request must have exactly topics, since, limit (and maybe have)"
            )
        topics, since, limit = value["topics"], value["since"], value["limit"]
        have = value.get("have", [])
        if not isinstance(have, list) or len(have) > MAX_SYNC_HAVE:
            raise MalformedMessageError(f"sync have must be a list of at most {MAX_SYNC_HAVE} prefixes")
        if not all(isinstance(h, bytes) and len(h) == HAVE_PREFIX_BYTES for h in have):
            raise MalformedMessageError(f"sync have holds {HAVE_PREFIX_BYTES}-byte content ID prefixes")
        if not isinstance(topics, list) or not 1 <= len(topics) <= MAX_SYNC_TOPICS:
            raise MalformedMessageError(f"sync request needs 1..{MAX_SYNC_TOPICS} topics")
        if not all(isinstance(t, str) and 0 < len(t) <= _MAX_TOPIC_CHARS for t in topics):
            raise MalformedMessageError("sync topics must be short text")
        if not isinstance(since, int) or isinstance(since, bool) or since < 0:
            raise MalformedMessageError("sync since must be a non-negative integer")
        if not isinstance(limit, int) or isinstance(limit, bool) or not 1 <= limit <= MAX_SYNC_LIMIT:
            raise MalformedMessageError(f"sync limit must be 1..{MAX_SYNC_LIMIT}")
        return cls(
            tuple(t for t in topics if isinstance(t, str)),
            since,
            limit,
            frozenset(h for h in have if isinstance(h, bytes)),
        )


@dataclass(frozen=True)
class SyncResponse:
    """Envelopes oldest first; ``more`` says the responder stopped at a limit."""

    messages: tuple[bytes, ...]
    more: bool

    def encode(self) -> bytes:
        return cbor.encode({"messages": list(self.messages), "more": self.more})

    @classmethod
    def fit(
        cls, candidates: list[bytes], limit: int, max_bytes: int = MAX_SYNC_RESPONSE_BYTES
    ) -> SyncResponse:
        """As many candidates as fit within the count and byte limits."""
        chosen: list[bytes] = []
        size = 16
        max_bytes = min(max_bytes, MAX_SYNC_RESPONSE_BYTES)
        for wire in candidates[:limit]:
            if size + len(wire) + 8 > max_bytes:
                break
            chosen.append(wire)
            size += len(wire) + 8
        return cls(tuple(chosen), more=len(chosen) < len(candidates))

    @classmethod
    def decode(cls, data: bytes) -> SyncResponse:
        if len(data) > MAX_SYNC_RESPONSE_BYTES:
            raise MessageTooLargeError("sync response too large")
        value = cbor.decode(data)
        if not isinstance(value, dict) or set(value) != {"messages", "more"}:
            raise MalformedMessageError("sync response must have exactly messages, more")
        messages, more = value["messages"], value["more"]
        if not isinstance(messages, list) or len(messages) > MAX_SYNC_LIMIT:
            raise MalformedMessageError(f"sync response holds at most {MAX_SYNC_LIMIT} messages")
        if not all(isinstance(m, bytes) and len(m) <= MAX_ENVELOPE_BYTES for m in messages):
            raise MalformedMessageError("sync response messages must be envelopes")
        if not isinstance(more, bool):
            raise MalformedMessageError("sync response more must be a boolean")
        return cls(tuple(m for m in messages if isinstance(m, bytes)), more)


class SyncLimiter(KeyedTokenBuckets):
    """Per-peer budget for serving sync requests: 10 at once, refilled at 1 per second."""

    def __init__(self, *, burst: float = 10.0, per_second: float = 1.0, tracked_peers: int = 1024) -> None:
        super().__init__(RateLimit(burst, per_second), tracked=tracked_peers)


class SyncBudget:
    """Bytes this node serves in sync answers, to all peers together: ``burst`` at once, refilled at
    ``per_second``. An answer takes what it sends; with the budget spent, answers are empty."""

    def __init__(self, *, burst: int = 16 * 1024 * 1024, per_second: int = 2 * 1024 * 1024) -> None:
        self._burst = float(burst)
        self._per_second = float(per_second)
        self._tokens = float(burst)
        self._last_ms: int | None = None

    def available(self, now_ms: int) -> int:
        if self._last_ms is not None:
            elapsed_s = max(0, now_ms - self._last_ms) / 1000
            self._tokens = min(self._burst, self._tokens + elapsed_s * self._per_second)
        self._last_ms = now_ms
        return int(self._tokens)

    def spend(self, size: int) -> None:
        self._tokens = max(0.0, self._tokens - size)
