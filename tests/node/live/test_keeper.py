"""Filling a recording's gaps at the end of a set from the peers that hold them, not from the DJ alone.

Every listener of a battle lacks the last segments when the set ends, and the DJ is one node serving
all of them at once; other listeners' recordings hold most of those segments. A listener serves the
whole segments of its recording (holes skipped), a fetcher asks a few peers at once, the DJ not
first, and keeps only what verifies and fits the range it asked for.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from djmesh.node.live import keeper as keeper_module
from djmesh.node.live import sharing
from djmesh.node.live.keeper import FILL_HEDGE_S, SetKeeper
from djmesh.node.live.recording import SetRecording
from djmesh.node.live.session import Request
from djmesh.node.live.sets import SetLibrary, SetSegment
from djmesh.protocol.cbor import CborValue
from djmesh.protocol.envelope import SignedEnvelope, sign
from djmesh.protocol.errors import MalformedMessageError
from djmesh.protocol.listen import StreamPrice
from djmesh.protocol.stream import SegmentSigner, StreamAnnounce
from tests.helpers.signed_sets import DJ_KEY, FRAMES_PER_SEGMENT, signed_set, with_lost_frame


def recording_of(path: Path, announce: SignedEnvelope, segments: list[SetSegment]) -> SetRecording:
    recording = SetRecording(path, announce)
    for segment in segments:
        recording.add(segment)
    return recording


async def test_a_recording_serves_the_whole_segments_it_holds_with_its_holes_skipped(tmp_path: Path) -> None:
    dj_set, _ = signed_set(6)
    s = dj_set.segments
    recording = recording_of(
        tmp_path / "l.djset.part", dj_set.announce, [s[2], s[0], with_lost_frame(s[3]), s[5], s[1]]
    )
    served = await sharing.held_segments(None, recording, 0, 6)
    assert served == [s[0].record(), s[1].record(), s[2].record(), s[5].record()]  # not the partial 3
    assert await sharing.held_segments(None, recording, 3, 2) == []
    assert await sharing.held_segments(None, None, 0, 6) is None  # neither a set nor a recording: an error
    assert await sharing.held_segments(dj_set, None, 4, 30) == [s[4].record(), s[5].record()]


async def test_a_listener_never_serves_its_recording_of_a_priced_stream(tmp_path: Path) -> None:
    dj_set, _ = signed_set(2)
    price = StreamPrice(31337, "0x" + "11" * 20, "0x" + "22" * 20, wei_per_s=10**12)
    priced = sign(
        StreamAnnounce(title="t", segment_frames=FRAMES_PER_SEGMENT, nonce=b"p", price=price),
        DJ_KEY,
        created_at_ms=1_800_000_000_000,
    )
    signer = SegmentSigner(DJ_KEY, priced.content_id, FRAMES_PER_SEGMENT)
    manifest = None
    for frame in dj_set.segments[0].frames:
        assert frame is not None
        manifest = signer.add(frame)
    assert manifest is not None
    recording = SetRecording(tmp_path / "p.djset.part", priced)
    assert recording.add(SetSegment(manifest, dj_set.segments[0].frames))
    assert recording.spans(0, 1)  # held whole, yet not served: only the DJ serves what others pay for
    assert await sharing.held_segments(None, recording, 0, 1) is None


async def test_the_end_of_a_set_is_filled_from_listeners_while_the_dj_does_not_answer(tmp_path: Path) -> None:
    dj_set, end = signed_set(6)
    s = dj_set.segments
    dj = dj_set.announce.author_peer_id
    holders = {
        "listener-1": recording_of(
            tmp_path / "1.djset.part", dj_set.announce, [s[0], s[1], s[2], s[3], s[5]]
        ),
        "listener-2": recording_of(
            tmp_path / "2.djset.part", dj_set.announce, [s[0], s[1], s[2], s[3], s[4]]
        ),
    }
    asked: list[str] = []
    dj_overloaded = asyncio.Event()  # never set: the DJ does not answer

    async def ask(peer: str, request: Request) -> dict[str, CborValue] | None:
        asked.append(peer)
        if peer == dj:
            await dj_overloaded.wait()
        assert request.op == "segments"
        held = await sharing.held_segments(None, holders[peer], request.start, request.limit)
        return {"announce": dj_set.announce.wire, "end": end.wire, "segments": held, "more": False}

    keeper = SetKeeper(SetLibrary(tmp_path / "sets"), ask, lambda _stream: [dj, *holders])
    mine = keeper.record(dj_set.announce)
    for segment in s[:4]:
        mine.add(segment)
    stored = await asyncio.wait_for(keeper.complete(end, [dj, *holders]), 10)
    assert stored is not None and stored.complete
    assert [x.record() for x in stored.segments] == [x.record() for x in s]
    assert sorted(asked) == sorted([dj, "listener-1", "listener-2"])  # one round: the DJ and listeners


@pytest.mark.parametrize(
    "served",
    [
        [3],  # below the range asked for
        [5, 4],  # out of order
        [4, 4],  # the same index twice
        [4, 6],  # past the range asked for (the end of the page)
    ],
)
async def test_a_peer_serving_segments_outside_the_range_or_order_asked_is_refused(
    tmp_path: Path, served: list[int]
) -> None:
    dj_set, _ = signed_set(8)

    async def liar(_peer: str, request: Request) -> dict[str, CborValue]:
        records = [dj_set.segments[i].record() for i in served]
        return {"announce": dj_set.announce.wire, "end": None, "segments": records, "more": False}

    kept: list[SetSegment] = []
    with pytest.raises(MalformedMessageError):
        await sharing.fetch_segments(liar, "liar", dj_set.announce, [4, 5], kept.append)
    assert all(4 <= k.manifest.index <= 5 for k in kept)


async def test_peers_that_never_answer_hold_the_fill_up_only_until_the_next_round(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    dj_set, end = signed_set(6)
    s = dj_set.segments
    dj = dj_set.announce.author_peer_id
    hung = asyncio.Event()  # never set
    asked: list[str] = []
    monkeypatch.setattr(keeper_module.random, "shuffle", lambda _peers: None)  # the rounds in list order
    peers = [dj, "hung-1", "hung-2", "hung-3", "holder"]

    async def ask(peer: str, request: Request) -> dict[str, CborValue] | None:
        asked.append(peer)
        if peer != "holder":  # the DJ and the first listeners hang
            await hung.wait()
        held = await sharing.held_segments(dj_set, None, request.start, request.limit)
        return {"announce": dj_set.announce.wire, "end": end.wire, "segments": held, "more": False}

    keeper = SetKeeper(SetLibrary(tmp_path / "sets"), ask, lambda _stream: peers)
    mine = keeper.record(dj_set.announce)
    for segment in s[:4]:
        mine.add(segment)
    stored = await asyncio.wait_for(keeper.complete(end, peers), 10 * FILL_HEDGE_S)
    assert stored is not None and stored.complete
    assert asked == peers  # the holder in the second round, once the hung first round had its time
