"""The standby link over real QUIC on loopback: a listener leaving a lying parent moves to its grandparent over
the link it already holds open, and hears the move as a few frames at most, not as a pause.

The relay-tree simulation (tests/node/sim/test_lying_relay.py) delivers a message at once. Over QUIC a catch-up
of one to three segments goes through a fresh link's congestion window, and the frames the listener could still
play came last, after their playout time: 10-36 frames unplayed in bench/hostile.py, where the nodes are
processes of their own on a busy machine.
"""

from __future__ import annotations

import asyncio
import itertools
from pathlib import Path
from typing import Any

import pytest

from djmesh.node.live.sets import SetSegment
from djmesh.node.live.subscription import Subscription
from djmesh.protocol.stream import Playout
from tests.helpers.lying_relay import ForgedAudio, is_forged, make_liar
from tests.helpers.network import PATIENCE, bootstrap_server, wait_until
from tests.node.live.mesh import live_nodes

pytestmark = pytest.mark.timeout(180)
SINE = "lavfi:sine=frequency=440"
# Frames of 20 ms the move may leave unplayed: from the exposing signature to the new parent's first frame is one
# round trip plus a few turns of the event loop, which the three nodes share here. In this one process it was 0-1
# frames with the machine's other core busy, and 1-2 before the fix (the catch-up's order itself is checked in
# tests/node/live/test_hub.py); the bound catches a move that costs a round trip's worth or more of audio on a
# busy machine (a connect first, a probe waited out, a catch-up from the wrong frame).
MOVE_FRAMES = 4 + int(2 * PATIENCE)


class PlayedFrames:
    """What a listener played, in order: (seq, genuine, forged); concealed frames are neither."""

    def __init__(self) -> None:
        self.items: list[tuple[int, bool, bool]] = []
        self.forged = ForgedAudio()
        self.segments: list[int] = []  # the first frame of each segment kept (verified)

    def on_playout(self, item: Playout, now_us: int) -> None:
        self.forged.on_playout(item, now_us)
        forged = is_forged(item.payload)
        self.items.append((item.seq, item.payload is not None and not forged, forged))

    def on_segment(self, segment: SetSegment) -> None:
        self.forged.on_segment(segment)
        self.segments.append(segment.manifest.first_seq)

    def on_end(self, error: str | None) -> None:
        pass

    def longest_silence(self) -> int:
        """The most frames in a row not played (concealed, or skipped)."""
        heard = [seq for seq, genuine, forged in self.items if genuine or forged]
        return max((b - a - 1 for a, b in itertools.pairwise(heard)), default=0)


@pytest.mark.parametrize("hold_s", [0.0, 0.6], ids=["quick", "held"])
async def test_a_listener_leaving_a_lying_parent_moves_over_its_standby_link_without_a_pause(
    tmp_path: Path, hold_s: float
) -> None:
    """``held``: the move waits 0.6 s first (as a loaded machine's did in bench/hostile.py). The new parent's
    catch-up then spans 30 frames and more past the next to play, all pushed in one turn: the playout buffer
    took its 26th frame for a jump and skipped 26 frames it had (three runs of the bench); now it plays them."""
    async with (
        bootstrap_server() as boot,
        live_nodes(tmp_path, boot, ["dj", "liar", "fan"], max_children={"dj": 1}) as nodes,
    ):
        (_, dj), (_, liar), (_, fan) = nodes
        stream_id = await dj.start_stream(SINE, title="standby", bitrate=192_000)
        relay = await liar.subscribe(stream_id)
        assert isinstance(relay, Subscription)
        await wait_until(lambda: relay.verifier.verified_upto > 0, what="the relay verified a segment")
        # the relay turns liar, and the fan joins below it just after a segment's signature: its first segment
        # is all forged, and no frame of it verified, when the next signature exposes the lie
        make_liar(relay.hub, "forges")
        signed = relay.verifier.verified_upto
        await wait_until(lambda: relay.verifier.verified_upto > signed, what="the next segment signed")
        # that signature waits at the relay until the fan holds its standby link: the move over the link is what
        # is tested, not whether a loaded machine opens it within the second a segment lasts (it did not, once)
        held: list[tuple[int, int, bytes]] = []
        forward_manifest = relay.hub.forward_manifest
        relay.hub.forward_manifest = lambda first, end, wire: held.append((first, end, wire))  # type: ignore[method-assign]
        dj_hub = dj._broadcasts[bytes.fromhex(stream_id)].hub
        # no room at the DJ for the fan: not even the relay's slot, should a busy loop have made the relay's
        # pings late (a full hub asked for room drops children silent for 0.8 s first)
        dj_hub.max_children = 0
        sub = await fan.subscribe(stream_id)
        assert isinstance(sub, Subscription)
        sub.max_unverified = 1 << 30  # nor is the lie exposed by frames counted without a signature meanwhile
        played = PlayedFrames()
        sub.taps.add(played)
        listening = asyncio.ensure_future(fan.listen(stream_id, seconds=30))
        # the fan is below the relay, and holds a link open to the DJ, its grandparent
        assert sub.parent_address == liar.address
        await wait_until(lambda: sub._standby is not None, what="a standby link to the DJ")
        standby = sub._standby
        assert standby is not None and standby.address == dj.address
        assert sub.verifier.verified_upto == 0, "the lie was exposed before the standby link was open"
        relay.hub.forward_manifest = forward_manifest  # type: ignore[method-assign]
        for manifest in held:
            forward_manifest(*manifest)
        buffered: list[int] = []  # frames the playout buffer took once the move began
        if hold_s:
            move, push = sub._reparent, sub.jitter.push

            def noting_push(seq: int, *args: Any, **kwargs: Any) -> bool:
                taken = push(seq, *args, **kwargs)
                if taken:
                    buffered.append(seq)
                return taken

            async def held_move(**kwargs: Any) -> None:
                sub.jitter.push = noting_push  # type: ignore[method-assign]
                await asyncio.sleep(hold_s)
                await move(**kwargs)

            sub._reparent = held_move  # type: ignore[method-assign]
        dj_hub.max_children = 8  # room to move up to
        await wait_until(lambda: sub.parent_address == dj.address, what="the fan left the liar for the DJ")
        assert sub.left_bad and sub.left_bad[-1][0] == liar.address, sub.left_bad
        # the move opened no connection: the new parent's link is the standby link, open since before the lie
        assert sub.parent is standby.link
        moved_at = played.items[-1][0]
        await wait_until(lambda: played.items[-1][0] > moved_at + 50, what="a second of audio after the move")
        listening.cancel()

        assert played.forged.recorded == 0  # forged frames are never kept
        # the new parent's catch-up began at the fan's first segment (it had verified none), not at the three
        # segments the DJ keeps, which came ahead of the frames it could still play
        first = sub._first_seq
        assert first is not None and played.segments[0] == first - first % 50, (played.segments, first)
        silence = played.longest_silence()
        if not hold_s:
            assert silence <= MOVE_FRAMES, (silence, sub.jitter.stats)
        else:
            # what the catch-up brings too late is concealed (or skipped), but nothing it buffered is thrown away.
            # Held 0.6 s: 11 frames concealed, none skipped; before, the 26th frame past the next to play was taken
            # for a jump and the catch-up's newest frames below it, just buffered, went: 26 skipped
            heard = {seq for seq, genuine, forged in played.items if genuine or forged}
            dropped = [seq for seq in buffered if seq < max(heard) and seq not in heard]
            assert buffered and not dropped, (dropped, silence, sub.jitter.stats)
