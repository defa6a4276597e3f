"""History sync messages: answers fit the request's count and the responder's byte budget."""

from __future__ import annotations

import pytest

from djmesh.protocol import cbor
from djmesh.protocol.errors import MalformedMessageError, MessageTooLargeError
from djmesh.protocol.sync import (
    HAVE_PREFIX_BYTES,
    MAX_SYNC_HAVE,
    MAX_SYNC_REQUEST_BYTES,
    SyncBudget,
    SyncRequest,
    SyncResponse,
)


def test_an_answer_fits_the_count_and_byte_limits() -> None:
    wires = [bytes([i]) * 1000 for i in range(10)]
    assert len(SyncResponse.fit(wires, 3).messages) == 3
    small = SyncResponse.fit(wires, 10, max_bytes=2500)
    assert len(small.messages) == 2 and small.more
    assert len(small.encode()) <= 2500
    empty = SyncResponse.fit(wires, 10, max_bytes=0)
    assert empty.messages == () and empty.more


def test_the_serving_budget_is_shared_and_refills() -> None:
    """One budget for all peers: a thousand Sybil peer IDs get no more than one peer would."""
    budget = SyncBudget(burst=10_000, per_second=1_000)
    assert budget.available(0) == 10_000
    budget.spend(9_000)
    assert budget.available(0) == 1_000
    budget.spend(5_000)
    assert budget.available(0) == 0  # never below zero
    assert budget.available(2_000) == 2_000  # refilled at 1,000 bytes a second
    assert budget.available(60_000) == 10_000  # up to the burst


def test_a_request_says_what_it_holds_and_one_without_keeps_the_old_form() -> None:
    plain = SyncRequest(("t",), since_ms=5, limit=10)
    assert cbor.decode(plain.encode()) == {"topics": ["t"], "since": 5, "limit": 10}  # no "have" key
    assert SyncRequest.decode(plain.encode()) == plain
    have = frozenset(bytes([i]) * HAVE_PREFIX_BYTES for i in range(3))
    holding = SyncRequest(("t", "u"), since_ms=5, limit=10, have=have)
    assert SyncRequest.decode(holding.encode()) == holding


def test_as_many_prefixes_as_have_room_fit_the_request_limit() -> None:
    topics = [f"/djmesh/1/author/{i:0>52}" for i in range(64)]
    for names in (["t"], topics):
        room = SyncRequest.have_room(names)
        have = frozenset(i.to_bytes(HAVE_PREFIX_BYTES, "big") for i in range(room))
        wire = SyncRequest(tuple(names), since_ms=2**40, limit=500, have=have).encode()
        assert len(wire) <= MAX_SYNC_REQUEST_BYTES
        assert SyncRequest.decode(wire).have == have
    assert SyncRequest.have_room(["t"]) == MAX_SYNC_HAVE


@pytest.mark.parametrize(
    "have",
    [
        "abc",  # not a list
        [b"short"],  # not a prefix
        [b"x" * HAVE_PREFIX_BYTES, 7],  # not bytes
        [i.to_bytes(HAVE_PREFIX_BYTES, "big") for i in range(MAX_SYNC_HAVE + 1)],  # too many
    ],
)
def test_a_malformed_have_is_refused(have: object) -> None:
    wire = cbor.encode({"topics": ["t"], "since": 0, "limit": 10, "have": have})  # type: ignore[dict-item]
    with pytest.raises((MalformedMessageError, MessageTooLargeError)):
        SyncRequest.decode(wire)
    with pytest.raises(MalformedMessageError):
        SyncRequest.decode(cbor.encode({"topics": ["t"], "since": 0, "limit": 10, "extra": 1}))
