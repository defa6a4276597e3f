"""Probing candidates: what a link says before its owner takes over is queued, boundedly."""

from __future__ import annotations

from djmesh.node.live.probe import MAX_PENDING, PendingLink
from djmesh.protocol.relay import Ping, ProbeOk
from tests.node.live.test_hub import WireLink


def test_a_held_link_queues_a_bounded_number_of_messages() -> None:
    """A standby link is held open for minutes to a peer that may send anything: what it says is bounded."""
    pending, link = PendingLink(), WireLink("10.0.0.9")
    for _ in range(10 * MAX_PENDING):
        pending.on_control(link, Ping(1, 1).to_value())
    pending.on_control(link, ProbeOk(1, 1, True, ()).to_value())  # dropped too: the queue is full
    pending.on_closed(link, "gone")  # never raises
    assert len(pending.drain()) == MAX_PENDING
