"""A stream hub against what children and joiners say: batches under the control limit, claims capped and spent,
marks that only demote, malformed messages dropped, dead children's slots freed for their orphans."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

import pytest

from djmesh.node.clock import VirtualClock, monotonic, run_virtual
from djmesh.node.live.hub import GONE_CHILD_S, LIVE_EDGE_FRAMES, STALE_CHILD_S, StreamHub
from djmesh.node.live.transport import ControlMessage, LinkHandler
from djmesh.protocol.relay import (
    MAX_FREE_CLAIM,
    Accept,
    Frames,
    Join,
    Ping,
    Pong,
    ProbeOk,
    Redirect,
    RelayMessage,
    decode_relay,
)
from djmesh.protocol.stream import MAX_LIVE_OPUS_PACKET, ControlReader, Frame, encode_control

STREAM = bytes(range(32))


class WireLink:
    """A link that frames every control message as QUIC does (so an oversized one raises) and keeps them."""

    def __init__(self, host: str) -> None:
        self.remote = (host, 4433)
        self.handler: LinkHandler | None = None
        self.received: list[RelayMessage] = []
        self.closed_because: str | None = None

    @property
    def closed(self) -> bool:
        return self.closed_because is not None

    def send_datagram(self, data: bytes) -> None:
        pass

    def send_control(self, message: ControlMessage) -> None:
        for value in ControlReader().feed(encode_control(message)):
            self.received.append(decode_relay(value))

    def close(self, reason: str = "") -> None:
        self.closed_because = reason


def hub(max_children: int = 2, stalled: Callable[[], bool] | None = None) -> StreamHub:
    return StreamHub(
        STREAM,
        b"announce",
        own_address=("10.0.0.1", 4433),
        max_children=max_children,
        segment_frames=50,
        stalled=stalled,
    )


async def live_for(target: StreamHub, seconds: float) -> None:
    """``seconds`` of a live stream: a frame every 20 ms (what a hub hears while its loop runs)."""
    first = max(target._frames, default=-1) + 1
    for seq in range(first, first + round(seconds / 0.02)):
        await asyncio.sleep(0.02)
        target.forward_frame(seq, Frame(seq, seq * 20_000, b"opus").encode())


def join(target: StreamHub, host: str, from_seq: int | None = None) -> WireLink:
    link = WireLink(host)
    target.join(link, Join(STREAM, listen=(host, 4433), from_seq=from_seq))
    return link


def test_a_192_kbit_catch_up_reaches_a_late_joiner_in_batches_under_the_limit() -> None:
    async def main() -> None:
        root = hub()
        frames = [Frame(seq, seq * 20_000, bytes([seq % 256]) * 480).encode() for seq in range(150)]
        for seq, frame in enumerate(frames):
            root.forward_frame(seq, frame)
        link = join(root, "10.0.0.2", from_seq=0)  # a re-parented child asks for three segments back
        assert isinstance(link.received[0], Accept)
        batches = [m for m in link.received if isinstance(m, Frames)]
        assert len(batches) == 4
        # the newest first, in a message of their own: all a child playing unverified frames can still play
        assert list(batches[0].data) == frames[-LIVE_EDGE_FRAMES:]
        assert [f for b in batches[1:] for f in b.data] == frames[:-LIVE_EDGE_FRAMES]

    run_virtual(main(), VirtualClock())


def test_a_frame_too_big_for_a_link_is_not_kept_or_forwarded_and_the_catch_up_still_goes(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A 1,276-byte Opus packet (VBR at 320 kbit/s, or a bad parent's) once made the join raise; now it is dropped."""

    async def main() -> None:
        root = hub()
        child = join(root, "10.0.0.2")
        sent: list[bytes] = []
        child.send_datagram = sent.append  # type: ignore[method-assign]
        biggest = Frame(1, 20_000, bytes(MAX_LIVE_OPUS_PACKET)).encode()
        root.forward_frame(0, Frame(0, 0, bytes(1276)).encode())
        root.forward_frame(1, biggest)
        assert sent == [biggest]
        late = join(root, "10.0.0.3", from_seq=0)
        assert [f for m in late.received if isinstance(m, Frames) for f in m.data] == [biggest]

    with caplog.at_level(logging.WARNING, logger="djmesh.node.live.hub"):
        run_virtual(main(), VirtualClock())
    assert "frame 0 of 1289 bytes not forwarded" in caplog.text


def test_claims_are_capped_and_spent_by_redirects_whatever_is_claimed_again() -> None:
    async def main() -> None:
        root = hub(max_children=1)
        relay = join(root, "10.0.0.2")
        root.on_control(relay, {"op": "ping", "t": 1, "free": 1000})  # a Sybil's claim: malformed, dropped
        assert not any(isinstance(m, Pong) for m in relay.received)
        (child,) = root.children.values()
        assert child.free is None
        root.on_control(relay, Ping(2, MAX_FREE_CLAIM).to_value())
        assert child.free == MAX_FREE_CLAIM
        for i in range(MAX_FREE_CLAIM):
            root.on_control(relay, Ping(3 + i, MAX_FREE_CLAIM).to_value())  # claiming again does not reset it
            joiner = join(root, f"10.0.1.{i}")
            (redirect,) = joiner.received
            assert isinstance(redirect, Redirect) and redirect.candidates[0].address == relay.remote
        assert child.room(monotonic()) == 0
        assert root.candidates()[0].free == 0

    run_virtual(main(), VirtualClock())


def test_a_mark_only_moves_a_child_to_the_end() -> None:
    async def main() -> None:
        root = hub(max_children=3)
        links = [join(root, f"10.0.0.{i}") for i in (2, 3, 4)]
        for link in links:
            root.on_control(link, Ping(1, 4).to_value())
        marked = links[0].remote
        root.apply_marks((marked,))  # anyone may say so, even falsely
        for _ in range(5):
            order = [c.address for c in root.candidates()]
            assert sorted(order) == sorted(link.remote for link in links)  # nobody hidden
            assert order[-1] == marked
        assert root.marked == 1

    run_virtual(main(), VirtualClock())


def test_a_full_hub_asked_for_room_frees_the_slot_of_a_child_gone_silent() -> None:
    async def main() -> None:
        root = hub(max_children=1)
        dead = join(root, "10.0.0.2")
        await live_for(root, STALE_CHILD_S / 2)
        probe = WireLink("10.0.0.3")
        reply = root.probe_reply()
        assert reply.free == 0 and not dead.closed
        await live_for(root, STALE_CHILD_S)
        reply = root.probe_reply()
        assert isinstance(reply, ProbeOk) and reply.free == 1 and dead.closed
        assert root.join(probe, Join(STREAM, listen=probe.remote))

    run_virtual(main(), VirtualClock())


def test_a_full_hub_frees_a_silent_child_whose_sibling_was_heard() -> None:
    async def main() -> None:
        root = hub(max_children=2)
        dead, alive = join(root, "10.0.0.2"), join(root, "10.0.0.3")
        for _ in range(8):
            await asyncio.sleep(STALE_CHILD_S / 4)
            root.on_control(alive, Ping(1, 0).to_value())
        reply = root.probe_reply()
        assert reply.free == 1 and dead.closed and not alive.closed

    run_virtual(main(), VirtualClock())


def test_a_pause_of_the_hubs_own_loop_frees_no_child_that_was_silent_like_its_siblings() -> None:
    """On a busy machine the hub's loop may stall for a second: every child is then 'silent' alike, and a
    joiner handled before their queued pings must not take a healthy child's slot."""

    async def main() -> None:
        root = hub(max_children=2)
        first, second = join(root, "10.0.0.2"), join(root, "10.0.0.3")
        await asyncio.sleep(STALE_CHILD_S * 1.5)  # the pause: nobody heard, the joiner's request first
        joiner = WireLink("10.0.0.4")
        assert not root.join(joiner, Join(STREAM, listen=joiner.remote))
        assert not first.closed and not second.closed
        await asyncio.sleep(2.5)  # silent past CHILD_TIMEOUT_S: they are gone indeed
        assert root.probe_reply().free == 2 and first.closed and second.closed

    run_virtual(main(), VirtualClock())


def test_a_pause_of_the_hubs_own_loop_frees_no_lone_child_even_if_the_queued_frames_come_first() -> None:
    """The relay is the DJ's only child (one slot). A loop pause of a second, then the queued frames and a joiner
    are read before the relay's queued ping: the relay keeps its slot (a CI precheck lost it, and the joiner
    listened to the DJ directly); silent past the pause, it is freed."""

    async def main() -> None:
        root = hub(max_children=1)
        relay = join(root, "10.0.0.2")
        await live_for(root, 0.2)
        root.on_control(relay, Ping(1, 4).to_value())
        await live_for(root, 0.2)
        await asyncio.sleep(STALE_CHILD_S * 1.5)  # the pause
        await live_for(root, 0.1)  # the frames queued meanwhile
        joiner = WireLink("10.0.0.4")
        assert root.probe_reply().free == 0
        assert root.probe_reply(gone=relay.remote).free == 0  # a joiner's word does not outweigh the pause
        assert not root.join(joiner, Join(STREAM, listen=joiner.remote)) and not relay.closed
        await live_for(root, STALE_CHILD_S)  # the relay has died: silent while the stream went on
        assert root.probe_reply().free == 1 and relay.closed
        assert root.join(joiner, Join(STREAM, listen=joiner.remote))

    run_virtual(main(), VirtualClock())


def test_unknown_and_malformed_control_messages_are_dropped() -> None:
    async def main() -> None:
        root = hub()
        link = join(root, "10.0.0.2")
        before = list(link.received)
        for value in (
            {"op": "nack", "seqs": "abc"},
            {"op": "ping", "t": 10**5000, "free": 1},
            {"op": "probe", "stream": STREAM},  # not for a child link
            {"op": "bogus"},
        ):
            root.on_control(link, value)
        assert link.received == before and not link.closed

    run_virtual(main(), VirtualClock())


def test_a_child_named_gone_is_freed_only_if_it_is_silent_to_us_too() -> None:
    async def main() -> None:
        root = hub(max_children=2)
        quiet, alive = join(root, "10.0.0.2"), join(root, "10.0.0.3")
        await live_for(root, GONE_CHILD_S + 0.1)
        root.on_control(alive, Ping(1, 0).to_value())
        assert root.probe_reply(gone=alive.remote).free == 0  # a false claim: it pinged us just now
        assert not alive.closed
        assert root.probe_reply(gone=quiet.remote).free == 1 and quiet.closed  # silent to us as well

    run_virtual(main(), VirtualClock())


def test_a_stalled_hub_says_it_is_not_live_and_takes_no_one_until_audio_comes_again() -> None:
    async def main() -> None:
        no_audio = True  # no frames reach it: its parent (or its parent's parent) is gone
        relay = hub(max_children=2, stalled=lambda: no_audio)  # asked, as a subscription's is_stalled
        assert relay.probe_reply().live is False
        turned_away = join(relay, "10.0.0.2")
        (redirect,) = turned_away.received
        assert isinstance(redirect, Redirect) and redirect.reason == "stalled" and not redirect.candidates
        assert not relay.children
        no_audio = False
        assert relay.probe_reply().live is True
        assert isinstance(join(relay, "10.0.0.3").received[0], Accept)

    run_virtual(main(), VirtualClock())
