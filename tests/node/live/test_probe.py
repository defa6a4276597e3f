"""Probing candidates: what a link says before its owner takes over is queued, boundedly."""

from __future__ import annotations

from djmesh.node.live.probe import MAX_PENDING, MAX_PENDING_DATAGRAMS, PendingLink
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


def test_frames_a_new_parent_sends_before_the_link_is_taken_over_are_kept() -> None:
    """A parent forwards frames from the moment it accepts us; the subscription takes the link over a loop turn
    or more later. Those frames are kept for it (the newest ``MAX_PENDING_DATAGRAMS``), and a held link's stale
    ones go with what ``drain`` drops."""
    pending, link = PendingLink(), WireLink("10.0.0.9")
    for seq in range(3 * MAX_PENDING_DATAGRAMS):
        pending.on_datagram(link, seq.to_bytes(2, "big"))
    kept = pending.take_datagrams()
    assert kept == [
        seq.to_bytes(2, "big") for seq in range(2 * MAX_PENDING_DATAGRAMS, 3 * MAX_PENDING_DATAGRAMS)
    ]
    assert pending.take_datagrams() == []
    pending.on_datagram(link, b"stale")
    pending.drain()
    assert pending.take_datagrams() == []
