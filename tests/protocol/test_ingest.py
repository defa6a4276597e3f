from __future__ import annotations

import nacl.signing
import pytest

from djmesh.protocol import Post, cbor, sign
from djmesh.protocol.envelope import SIGNING_CONTEXT, EnvelopeCache
from djmesh.protocol.ingest import Accepted, Duplicate, Ignored, Inbox, RateLimited, Rejected
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


def test_clock_disagreements_are_ignored_not_rejected(signing_key: nacl.signing.SigningKey) -> None:
    """A message our clock calls future or stale is policy, not proof of a bad forwarder."""
    inbox = Inbox(max_age_ms=60_000)
    future = sign(Post("later"), signing_key, created_at_ms=NOW + 3_600_000).wire
    event = inbox.receive(future, now_ms=NOW)
    assert isinstance(event, Ignored) and "FutureTimestampError" in event.reason
    stale = sign(Post("earlier"), signing_key, created_at_ms=NOW - 3_600_000).wire
    event = inbox.receive(stale, now_ms=NOW)
    assert isinstance(event, Ignored) and "StaleTimestampError" in event.reason
    assert isinstance(inbox.receive(future, now_ms=NOW + 3_600_000), Accepted)  # our clock caught up


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


def test_over_rate_is_known_before_decoding_and_only_valid_messages_use_tokens(
    signing_key: nacl.signing.SigningKey,
) -> None:
    inbox = Inbox(rate_limit=RateLimit(burst=3, per_second=1))
    author = bytes(signing_key.verify_key)
    assert not inbox.over_rate(author, NOW)  # unknown: not over, and not tracked for asking
    forged = bytearray(sign(Post("forged"), signing_key, created_at_ms=NOW).wire)
    forged[-1] ^= 1  # the signature's last byte
    for _ in range(10):  # anyone may claim to be the author: that costs the author nothing
        assert isinstance(inbox.receive(bytes(forged), now_ms=NOW), Rejected)
    assert not inbox.over_rate(author, NOW)
    for i in range(3):
        assert isinstance(
            inbox.receive(sign(Post(f"{i}"), signing_key, created_at_ms=NOW).wire, now_ms=NOW), Accepted
        )
    assert inbox.over_rate(author, NOW)
    assert not inbox.over_rate(author, NOW + 1000)  # a token refilled, and asking took none
    assert not inbox.over_rate(author, NOW + 1000)


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


def forged_nested(victim: bytes, key: nacl.signing.SigningKey, *, depth: int = 12) -> bytes:
    """About 16 KiB of arrays nested ``depth`` deep, naming ``victim`` as author, signed by ``key``."""

    def tree(level: int) -> cbor.CborValue:
        return [0, 0] if level == 0 else [tree(level - 1), tree(level - 1)]

    unsigned: dict[cbor.CborKey, cbor.CborValue] = {
        "v": 1,
        "k": "post",
        "a": victim,
        "t": NOW,
        "p": tree(depth),
    }
    return cbor.encode({**unsigned, "s": key.sign(SIGNING_CONTEXT + cbor.encode(unsigned)).signature})


def test_hostile_payloads_are_refused_before_they_are_decoded(
    signing_key: nacl.signing.SigningKey, other_key: nacl.signing.SigningKey, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A forged signature, or a message published by someone other than its author, is refused
    without decoding the payload (the payload decoder is never called)."""
    decoded: list[int] = []
    real_decode = cbor.decode

    def counting_decode(data: bytes, **kwargs: int) -> cbor.CborValue:
        decoded.append(len(data))
        return real_decode(data, **kwargs)

    monkeypatch.setattr(cbor, "decode", counting_decode)
    inbox = Inbox(rate_limit=None)
    victim, attacker = bytes(signing_key.verify_key), bytes(other_key.verify_key)
    forged = forged_nested(victim, other_key)
    assert len(forged) > 16_000
    event = inbox.receive(forged, now_ms=NOW, publisher=victim)
    assert isinstance(event, Rejected) and event.reason.startswith("BadSignatureError")
    self_signed = forged_nested(attacker, other_key)
    event = inbox.receive(self_signed, now_ms=NOW, publisher=victim)
    assert isinstance(event, Rejected) and event.reason.startswith("NotAuthorError")
    assert decoded == []
    # Published by its own author the signature holds: now the payload is decoded, up to
    # MAX_PAYLOAD_ITEMS items (this one has 16 K), and refused.
    event = inbox.receive(self_signed, now_ms=NOW, publisher=attacker)
    assert isinstance(event, Rejected) and event.reason == "DecodeError: more items than allowed"
    assert decoded
    small = forged_nested(attacker, other_key, depth=3)
    event = inbox.receive(small, now_ms=NOW, publisher=attacker)
    assert isinstance(event, Rejected) and event.reason.startswith("InvalidPayloadError")


def test_verified_envelopes_are_cached_by_content_id(signing_key: nacl.signing.SigningKey) -> None:
    cache = EnvelopeCache(capacity=3)
    inbox = Inbox(rate_limit=None, verified=cache)
    wires = [sign(Post(f"m{i}"), signing_key, created_at_ms=NOW + i).wire for i in range(5)]
    for wire in wires:
        assert isinstance(inbox.receive(wire, now_ms=NOW), Accepted)
    assert len(cache) == 3  # bounded
    hits = cache.hits
    assert isinstance(inbox.receive(wires[-1], now_ms=NOW), Duplicate) and cache.hits == hits + 1
    # A cached envelope still meets the clock and publisher rules of each new arrival.
    assert isinstance(Inbox(verified=cache, max_age_ms=1).receive(wires[-1], now_ms=NOW + 60_000), Ignored)
    other = Inbox(verified=cache).receive(wires[-1], now_ms=NOW, publisher=b"\x01" * 32)
    assert isinstance(other, Rejected) and other.reason.startswith("NotAuthorError")
    by_bytes = EnvelopeCache(max_bytes=2 * len(wires[0]) + 1)
    for wire in wires:
        Inbox(rate_limit=None, verified=by_bytes).receive(wire, now_ms=NOW)
    assert len(by_bytes) == 2
