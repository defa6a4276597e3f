"""The inbox: what every node does with a message that arrives from a peer.

A sans-IO state machine (bytes and an explicit ``now`` in, one event out) that the gossip
validators and history sync feed. It decodes and verifies, drops what it has already
seen, and holds each author to a token-bucket rate so one flooding peer cannot fill the
store or the mesh. Memory stays bounded however many messages or authors pass through.

Policy is not invalidity: ``Rejected`` is for a message nobody should have sent on (bad bytes,
a bad signature, a replay by someone other than its author), which costs its forwarder peer
score; ``Ignored`` (a clock disagreement, stale) and ``RateLimited`` are this node's policy, which
an honest forwarder cannot know, so they are dropped without blaming it.
"""

from __future__ import annotations

from dataclasses import dataclass

from djmesh.protocol.bounded import BoundedSet
from djmesh.protocol.envelope import (
    DEFAULT_MAX_SKEW_MS,
    MAX_ENVELOPE_BYTES,
    EnvelopeCache,
    SignedEnvelope,
    decode_envelope,
)
from djmesh.protocol.errors import FutureTimestampError, ProtocolError, StaleTimestampError
from djmesh.protocol.ratelimit import KeyedTokenBuckets, RateLimit


@dataclass(frozen=True)
class Accepted:
    envelope: SignedEnvelope
    source: str | None


@dataclass(frozen=True)
class Duplicate:
    envelope: SignedEnvelope
    source: str | None


@dataclass(frozen=True)
class Rejected:
    """Refused input; ``reason`` is one line for the log, ``error`` says which rule."""

    error: ProtocolError
    source: str | None

    @property
    def reason(self) -> str:
        return f"{type(self.error).__name__}: {self.error}"


@dataclass(frozen=True)
class Ignored:
    """Refused by this node's policy (its clock), not invalid: no penalty for the forwarder."""

    error: ProtocolError
    source: str | None

    @property
    def reason(self) -> str:
        return f"{type(self.error).__name__}: {self.error}"


#: errors that say more about the clocks than about the message
POLICY_ERRORS = (FutureTimestampError, StaleTimestampError)


@dataclass(frozen=True)
class RateLimited:
    author: bytes
    source: str | None


InboxEvent = Accepted | Duplicate | Rejected | Ignored | RateLimited


#: per author: 20 messages at once, 5 per second sustained (chat, reactions)
DEFAULT_RATE_LIMIT = RateLimit()


class Inbox:
    def __init__(
        self,
        *,
        rate_limit: RateLimit | None = DEFAULT_RATE_LIMIT,
        max_skew_ms: int = DEFAULT_MAX_SKEW_MS,
        max_age_ms: int | None = None,
        max_bytes: int = MAX_ENVELOPE_BYTES,
        seen_capacity: int = 100_000,
        tracked_authors: int = 10_000,
        verified: EnvelopeCache | None = None,
    ) -> None:
        """``verified``: envelopes verified before (shared with the store's reads), so a message
        arriving again on another topic or from another forwarder is not verified again."""
        self._max_skew_ms = max_skew_ms
        self._max_age_ms = max_age_ms
        self._max_bytes = max_bytes
        self._seen: BoundedSet[bytes] = BoundedSet(seen_capacity)
        self._buckets = KeyedTokenBuckets(rate_limit, tracked=tracked_authors) if rate_limit else None
        self.verified = verified if verified is not None else EnvelopeCache()

    def mark_seen(self, content_id: bytes) -> None:
        """Messages we published or loaded from the store are not accepted again."""
        self._seen.add(content_id)

    def over_rate(self, author: bytes, now_ms: int) -> bool:
        """Whether a message by ``author`` now would be refused for its rate (before paying for decoding it).

        Only messages that verified take an author's tokens, so whoever claims to be ``author`` cannot
        make it look over its rate: asking before the signature check is safe.
        """
        return self._buckets is not None and self._buckets.exhausted(author, now_ms)

    def receive(
        self, data: bytes, *, now_ms: int, source: str | None = None, publisher: bytes | None = None
    ) -> InboxEvent:
        """``publisher``: the key the transport says published ``data`` (gossip); it must be the author."""
        try:
            envelope = decode_envelope(
                data,
                now_ms=now_ms,
                max_skew_ms=self._max_skew_ms,
                max_age_ms=self._max_age_ms,
                max_bytes=self._max_bytes,
                publisher=publisher,
                cache=self.verified,
            )
        except POLICY_ERRORS as error:
            return Ignored(error, source)
        except ProtocolError as error:
            return Rejected(error, source)
        content_id = envelope.content_id
        if content_id in self._seen:
            return Duplicate(envelope, source)
        if self._buckets is not None and not self._buckets.allow(envelope.author, now_ms):
            return RateLimited(envelope.author, source)
        self._seen.add(content_id)
        return Accepted(envelope, source)
