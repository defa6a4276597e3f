"""Token buckets per key: a burst, a refill rate, and a token given back for what proved worth it."""

from __future__ import annotations

from djmesh.protocol.ratelimit import KeyedTokenBuckets, RateLimit


def test_a_bucket_refuses_past_its_burst_and_refills_at_its_rate() -> None:
    buckets = KeyedTokenBuckets(RateLimit(burst=2, per_second=1.0))
    assert [buckets.allow("k", 0) for _ in range(3)] == [True, True, False]
    assert buckets.allow("k", 1000) and not buckets.allow("k", 1000)


def test_a_token_given_back_can_be_spent_again_but_never_beyond_the_burst() -> None:
    buckets = KeyedTokenBuckets(RateLimit(burst=2, per_second=0.0))
    assert buckets.allow("k", 0) and buckets.allow("k", 0) and not buckets.allow("k", 0)
    buckets.give_back("k", 10)
    assert buckets.allow("k", 20) and not buckets.allow("k", 20)
    for _ in range(5):
        buckets.give_back("k", 30)
    assert [buckets.allow("k", 40) for _ in range(3)] == [True, True, False]
