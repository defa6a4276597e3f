from __future__ import annotations

import nacl.signing

from djmesh.protocol import Post, sign
from djmesh.protocol.ingest import Accepted, Duplicate, Inbox, RateLimited, Rejected
from djmesh.protocol.ratelimit import RateLimit

NOW = 1_790_000_000_000


def test_accepts_then_drops_duplicates(signing_key: nacl.signing.SigningKey) -> None:
    inbox = Inbox()
    wire = sign(Post("once"), signing_key, created_at_ms=NOW).wire
    first = inbox.receive(wire, now_ms=NOW, source="peer-a")
    assert isinstance(first, Accepted) and first.source == "peer-a"
    assert isinstance(inbox.receive(wire, now_ms=NOW, source="peer-b"), Duplicate)


def test_rejects_with_a_loggable_reason(signing_key: nacl.signing.SigningKey) -> None:
    inbox = Inbox()
    event = inbox.receive(b"\xff\x00garbage", now_ms=NOW, source="peer-x")
    assert isinstance(event, Rejected)
    assert event.reason.startswith("DecodeError")
    future = sign(Post("later"), signing_key, created_at_ms=NOW + 3_600_000).wire
    event = inbox.receive(future, now_ms=NOW)
    assert isinstance(event, Rejected) and "FutureTimestampError" in event.reason


def test_flooding_author_is_rate_limited_and_recovers_with_time(
    signing_key: nacl.signing.SigningKey, other_key: nacl.signing.SigningKey
) -> None:
    inbox = Inbox(rate_limit=RateLimit(burst=5, per_second=2))
    flood = [sign(Post(f"spam {i}"), signing_key, created_at_ms=NOW + i).wire for i in range(20)]
    events = [inbox.receive(wire, now_ms=NOW) for wire in flood]
    assert sum(isinstance(e, Accepted) for e in events) == 5
    assert all(isinstance(e, RateLimited) for e in events[5:])
    # Another author is not affected by the flooder.
    assert isinstance(
        inbox.receive(sign(Post("hi"), other_key, created_at_ms=NOW).wire, now_ms=NOW), Accepted
    )
    # A rate-limited message was not marked seen: it is accepted once tokens refill.
    assert isinstance(inbox.receive(flood[5], now_ms=NOW + 1000), Accepted)


def test_memory_stays_bounded(signing_key: nacl.signing.SigningKey) -> None:
    inbox = Inbox(rate_limit=None, seen_capacity=10)
    wires = [sign(Post(f"m{i}"), signing_key, created_at_ms=NOW + i).wire for i in range(30)]
    for wire in wires:
        assert isinstance(inbox.receive(wire, now_ms=NOW + 100), Accepted)
    assert len(inbox._seen._items) == 10
    # The oldest were forgotten (the store is the durable dedupe); the newest are still known.
    assert isinstance(inbox.receive(wires[-1], now_ms=NOW + 100), Duplicate)


def test_gossip_replays_by_non_authors_are_rejected_without_hiding_the_original(
    signing_key: nacl.signing.SigningKey, other_key: nacl.signing.SigningKey
) -> None:
    inbox = Inbox()
    wire = sign(Post("mine"), signing_key, created_at_ms=NOW).wire
    replay = inbox.receive(wire, now_ms=NOW, publisher=bytes(other_key.verify_key))
    assert isinstance(replay, Rejected) and replay.reason.startswith("NotAuthorError")
    # The replay did not mark the message seen: the author's own publication still gets in.
    assert isinstance(inbox.receive(wire, now_ms=NOW, publisher=bytes(signing_key.verify_key)), Accepted)
    again = inbox.receive(wire, now_ms=NOW, publisher=bytes(signing_key.verify_key))
    assert (
        isinstance(again, Duplicate)
        and again.envelope.content_id == sign(Post("mine"), signing_key, created_at_ms=NOW).content_id
    )
