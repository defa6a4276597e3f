"""History sync messages: answers fit the request's count and the responder's byte budget."""

from __future__ import annotations

from djmesh.protocol.sync import SyncBudget, SyncResponse


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
