"""Signed segments, the verifier (tampered, forged, reordered, replayed input) and the jitter buffer."""

from __future__ import annotations

import contextlib
import random

import nacl.signing
import pytest
from hypothesis import given
from hypothesis import strategies as st

from djmesh.protocol import decode_envelope, sign
from djmesh.protocol.errors import BadSignatureError, DecodeError, ProtocolError
from djmesh.protocol.stream import (
    STREAMS_TOPIC,
    ControlReader,
    Dropped,
    Frame,
    JitterBuffer,
    SegmentSigner,
    StreamAnnounce,
    StreamEnd,
    StreamVerifier,
    VerifiedSegment,
    decode_frame,
    decode_manifest,
    encode_control,
    verify_set,
)
from djmesh.protocol.topics import belongs_on, topics_for

STREAM = bytes(range(32))


def frames(n: int, start: int = 0) -> list[Frame]:
    return [Frame(seq, 1_000_000 + seq * 20_000, bytes([seq % 256]) * 40) for seq in range(start, start + n)]


def signed(key: nacl.signing.SigningKey, n_segments: int, per: int = 5) -> tuple[list[Frame], list[bytes]]:
    signer = SegmentSigner(key, STREAM, per)
    all_frames = frames(n_segments * per)
    manifests = [m.wire for f in all_frames if (m := signer.add(f)) is not None]
    return all_frames, manifests


def test_announce_round_trips_and_routes_to_the_streams_topic(signing_key: nacl.signing.SigningKey) -> None:
    envelope = sign(StreamAnnounce(title="final", nonce=b"12345678"), signing_key, created_at_ms=1000)
    decoded = decode_envelope(envelope.wire, now_ms=None)
    assert decoded.message == envelope.message
    assert topics_for(decoded)[0] == STREAMS_TOPIC and belongs_on(decoded, STREAMS_TOPIC)
    end = sign(StreamEnd(envelope.content_id, 3, 150, bytes(32)), signing_key, created_at_ms=2000)
    assert decode_envelope(end.wire, now_ms=None).message == end.message


def test_frame_datagram_round_trip_and_garbage() -> None:
    frame = Frame(7, 123_456, b"opus")
    assert decode_frame(frame.encode()) == frame
    header_only = b"\x01" + bytes(12)  # no Opus packet: FFmpeg takes an empty one as the stream's end
    for bad in (b"", b"\x02" + bytes(12), b"\x01" + bytes(11), header_only, header_only + bytes(2000)):
        with pytest.raises(DecodeError):
            decode_frame(bad)


@given(st.binary(max_size=200))
def test_garbage_never_escapes_as_anything_but_protocol_error(data: bytes) -> None:
    with pytest.raises(ProtocolError):
        decode_manifest(data, bytes(32))
    with contextlib.suppress(ProtocolError):
        decode_frame(data)
    with contextlib.suppress(ProtocolError):
        ControlReader().feed(data)


def test_honest_stream_verifies_every_frame(signing_key: nacl.signing.SigningKey) -> None:
    all_frames, manifests = signed(signing_key, 4)
    verifier = StreamVerifier(signing_key.verify_key.encode(), STREAM, segment_frames=5)
    out = []
    for index, wire in enumerate(manifests):
        for frame in all_frames[index * 5 : index * 5 + 5]:
            assert verifier.add_frame(frame) is None
        out.append(verifier.add_manifest(wire))
    assert all(isinstance(e, VerifiedSegment) for e in out)
    assert [f for e in out if isinstance(e, VerifiedSegment) for f in e.frames] == all_frames
    assert verifier.counts == {} and verifier.verified_frames == 20
    verify_set(signing_key.verify_key.encode(), STREAM, manifests)


def test_tampered_frames_are_dropped_and_counted(signing_key: nacl.signing.SigningKey) -> None:
    all_frames, manifests = signed(signing_key, 1)
    verifier = StreamVerifier(signing_key.verify_key.encode(), STREAM, segment_frames=5)
    evil = Frame(2, all_frames[2].ts_us, b"louder")
    verifier.add_frame(evil)  # arrives first: the genuine one must still win
    for frame in all_frames:
        verifier.add_frame(frame)
    verifier.add_frame(Frame(3, all_frames[3].ts_us, b"x"))  # only a fake for seq 3 ... plus the real one
    event = verifier.add_manifest(manifests[0])
    assert isinstance(event, VerifiedSegment)
    assert list(event.frames) == all_frames
    assert verifier.counts["tampered"] == 2


def test_tampered_only_frame_is_lost_not_played(signing_key: nacl.signing.SigningKey) -> None:
    all_frames, manifests = signed(signing_key, 1)
    verifier = StreamVerifier(signing_key.verify_key.encode(), STREAM, segment_frames=5)
    for frame in all_frames:
        verifier.add_frame(frame if frame.seq != 1 else Frame(1, frame.ts_us, b"evil"))
    event = verifier.add_manifest(manifests[0])
    assert isinstance(event, VerifiedSegment) and event.frames[1] is None
    assert verifier.counts == {"tampered": 1} and verifier.lost_frames == 1


def test_tampering_is_seen_before_the_segment_is_settled(signing_key: nacl.signing.SigningKey) -> None:
    """A listener can refuse a forgery without losing the segment: its genuine frames verify when they come."""
    all_frames, manifests = signed(signing_key, 1)
    verifier = StreamVerifier(signing_key.verify_key.encode(), STREAM, segment_frames=5)
    for frame in all_frames:
        verifier.add_frame(frame if frame.seq < 3 else Frame(frame.seq, frame.ts_us, b"evil"))
    checked = verifier.check(manifests[0])
    assert not isinstance(checked, Dropped)
    assert verifier.tampered(checked) == 2
    assert verifier.verified_upto == 0 and verifier.counts == {}  # nothing settled, nothing counted
    verifier.discard_pending()
    for frame in all_frames:  # from another parent
        verifier.add_frame(frame)
    assert verifier.tampered(checked) == 0
    event = verifier.accept(checked)
    assert isinstance(event, VerifiedSegment) and list(event.frames) == all_frames


def test_disowned_frames_are_forgotten_and_the_rest_kept(signing_key: nacl.signing.SigningKey) -> None:
    """A parent disowns frames 2..3 (its own parent forged them): they go, the good ones before them stay."""
    all_frames, manifests = signed(signing_key, 1)
    verifier = StreamVerifier(signing_key.verify_key.encode(), STREAM, segment_frames=5)
    for frame in all_frames:
        verifier.add_frame(frame if frame.seq < 2 else Frame(frame.seq, frame.ts_us, b"evil"))
    assert verifier.discard_pending(2, 4) == 2
    verifier.add_frame(all_frames[2])  # the good ones come again
    verifier.add_frame(all_frames[3])
    event = verifier.add_manifest(manifests[0])
    assert isinstance(event, VerifiedSegment)
    assert list(event.frames) == [*all_frames[:4], None]
    assert verifier.counts == {"tampered": 1}  # frame 4 was not disowned


def test_forged_reordered_replayed_manifests(
    signing_key: nacl.signing.SigningKey, other_key: nacl.signing.SigningKey
) -> None:
    all_frames, manifests = signed(signing_key, 3)
    _, forged = signed(other_key, 1)
    verifier = StreamVerifier(signing_key.verify_key.encode(), STREAM, segment_frames=5)
    assert isinstance(verifier.add_manifest(forged[0]), Dropped)
    bent = bytearray(manifests[0])
    bent[-1] ^= 1
    assert isinstance(verifier.add_manifest(bytes(bent)), Dropped)
    assert verifier.counts["forged"] == 2
    for frame in all_frames:
        verifier.add_frame(frame)
    assert isinstance(verifier.add_manifest(manifests[0]), VerifiedSegment)
    assert isinstance(verifier.add_manifest(manifests[2]), VerifiedSegment)  # a gap is allowed (late joiner)
    late = verifier.add_manifest(manifests[1])
    assert isinstance(late, Dropped) and late.reason == "reordered"
    again = verifier.add_manifest(manifests[2])
    assert isinstance(again, Dropped) and again.reason == "replayed"
    assert verifier.add_frame(all_frames[0]) is not None  # a frame from the past is a replay
    assert verifier.counts["replayed"] == 2 and verifier.counts["reordered"] == 1


def test_chain_break_is_refused(signing_key: nacl.signing.SigningKey) -> None:
    """A validly signed segment that does not extend the chain (e.g. from another take) is dropped."""
    _, first = signed(signing_key, 2)
    other = SegmentSigner(signing_key, STREAM, 5)
    other.head = bytes(32)
    other.index = 1
    for frame in frames(5, 5):
        manifest = other.add(frame)
    assert manifest is not None
    verifier = StreamVerifier(signing_key.verify_key.encode(), STREAM, segment_frames=5)
    verifier.add_manifest(first[0])
    event = verifier.add_manifest(manifest.wire)
    assert isinstance(event, Dropped) and event.reason == "chain"
    with pytest.raises(ProtocolError):
        verify_set(signing_key.verify_key.encode(), STREAM, [first[0], manifest.wire])


def test_manifest_from_another_key_is_a_bad_signature(
    signing_key: nacl.signing.SigningKey, other_key: nacl.signing.SigningKey
) -> None:
    _, manifests = signed(signing_key, 1)
    with pytest.raises(BadSignatureError):
        decode_manifest(manifests[0], other_key.verify_key.encode())


def test_verifier_memory_is_bounded(signing_key: nacl.signing.SigningKey) -> None:
    verifier = StreamVerifier(signing_key.verify_key.encode(), STREAM, segment_frames=5)
    for frame in frames(1000):
        verifier.add_frame(frame)
    assert verifier._pending_size <= verifier.max_pending
    assert verifier.counts["unverified"] > 0


def test_control_reader_splits_and_refuses_oversize() -> None:
    reader = ControlReader()
    data = encode_control({"op": "a", "x": 1}) + encode_control({"op": "b"})
    out = []
    for i in range(len(data)):
        out += reader.feed(data[i : i + 1])
    assert [m["op"] for m in out] == ["a", "b"]
    with pytest.raises(ProtocolError):
        ControlReader().feed(b"\xff\xff\xff\xff")


def run_jitter(delays_ms: list[float], *, frame_ms: int = 20) -> tuple[JitterBuffer, list[int]]:
    """Feed frames with the given network delays; pop at every ms; returns the playout delays."""
    jitter = JitterBuffer(frame_us=frame_ms * 1000)
    arrivals = sorted((seq * frame_ms * 1000 + int(d * 1000), seq) for seq, d in enumerate(delays_ms))
    played: list[int] = []
    end = arrivals[-1][0] + 500_000
    index = 0
    for now in range(0, end, 1000):
        while index < len(arrivals) and arrivals[index][0] <= now:
            at, seq = arrivals[index]
            jitter.push(seq, seq * frame_ms * 1000, b"x", at)
            index += 1
        for item in jitter.pop(now):
            if item.payload is not None:
                played.append(now - item.ts_us)
    return jitter, played


def test_jitter_buffer_stays_low_on_a_quiet_link() -> None:
    jitter, played = run_jitter([1.0] * 300)
    assert len(played) == 300 and jitter.stats.concealed == 0
    assert max(played) <= 1000 + 8_000  # a few ms, not aiortc's 80


def test_jitter_buffer_grows_with_jitter_and_rarely_conceals() -> None:
    rng = random.Random(5)
    delays = [5 + rng.expovariate(1 / 8.0) for _ in range(1500)]
    jitter, _played = run_jitter(delays)
    assert jitter.stats.concealed + jitter.stats.late < 0.06 * len(delays)
    assert 10_000 < jitter.delay_us < 120_000


def test_jitter_buffer_conceals_losses_and_reorders() -> None:
    jitter = JitterBuffer()
    for seq in (0, 2, 1, 4):
        jitter.push(seq, seq * 20_000, bytes([seq]), seq * 20_000 + 1000)
    items = jitter.pop(10_000_000)
    assert [i.seq for i in items] == [0, 1, 2, 3, 4]
    assert items[3].payload is None and jitter.stats.concealed == 1
    assert not jitter.push(1, 20_000, b"late", 10_000_000) and jitter.stats.late == 1


def test_a_catch_up_pushed_at_once_is_played_not_skipped_at_its_26th_frame() -> None:
    """A move of 0.5-0.9 s: the new parent's newest 20 frames come in one message, ahead of any pop, the first
    fewer than 25 frames past the next to play. Measured from the next to play, the 26th frame past it passed for
    a jump, and the frames buffered before it went: 26 skipped at once (bench/hostile.py, three runs)."""
    jitter = JitterBuffer()
    for seq in range(10):
        jitter.push(seq, seq * 20_000, b"old parent", seq * 20_000 + 1000)
    assert len(jitter.pop(10 * 20_000)) == 10  # then the move: nothing for 40 frames
    live_edge = 9 + 40
    for seq in range(live_edge - 19, live_edge + 1):  # the catch-up's newest frames, in one batch
        jitter.push(seq, seq * 20_000, b"catch-up", live_edge * 20_000, measure=False)
    for seq in range(10, live_edge - 19):  # then the older ones, in the next message of the same turn
        jitter.push(seq, seq * 20_000, b"catch-up", live_edge * 20_000, measure=False)
    played = jitter.pop(live_edge * 20_000 + 100_000)
    assert [item.seq for item in played] == list(range(10, live_edge + 1))
    assert all(item.payload == b"catch-up" for item in played)
    assert jitter.stats.skipped == 0 and jitter.stats.concealed == 0

    # a real jump still skips: more than 25 missing in a row, or a frame far ahead whatever is buffered
    jitter.push(live_edge + 30, 0, b"x", live_edge * 20_000)
    assert jitter.stats.skipped == 29
    far = live_edge + 30 + jitter.max_ahead_frames + 1
    for seq in range(live_edge + 31, far):
        jitter.push(seq, 0, b"x", live_edge * 20_000)
    jitter.push(far, 0, b"x", live_edge * 20_000)
    assert jitter.stats.skipped == 29 + far - (live_edge + 30) and len(jitter._buffer) == 1


def test_jitter_buffer_keeps_its_schedule_across_a_reset() -> None:
    """Re-parenting resets the transits; what is buffered (verified playout holds over a second) plays on time,
    and a frame fetched again (late by nature) does not set the new path's transit."""
    hold_us = 1_600_000
    jitter = JitterBuffer(min_delay_us=hold_us, max_delay_us=hold_us + 400_000, max_gap_frames=200)
    for seq in range(50):  # a verified segment, arrived 30 ms after capture
        jitter.observe(seq * 20_000, seq * 20_000 + 30_000)
        jitter.push(seq, seq * 20_000, b"x", 1_000_000, measure=False)
    due = jitter.next_due_us()
    assert due == 30_000 + hold_us
    jitter.reset()
    assert jitter.next_due_us() == due
    assert jitter.pop(due + 1000) and len(jitter.pop(due + 500_000)) == 25  # 20 ms apart, not all at once
    following = jitter.next_due_us()
    assert following == 26 * 20_000 + 30_000 + hold_us
    jitter.push(50, 50 * 20_000, b"x", 2_900_000, measure=False)  # the new parent's catch-up
    assert jitter.next_due_us() == following


def test_jitter_buffer_discards_a_liars_frames_and_takes_genuine_copies_in_their_places() -> None:
    """Frames buffered from a parent exposed as a liar are dropped; copies from the next parent fill their places
    if they come before they are due, else those places are concealed."""
    jitter = JitterBuffer(min_delay_us=100_000)
    for seq in range(6):
        jitter.push(seq, seq * 20_000, b"forged", seq * 20_000 + 1000)
    assert [i.seq for i in jitter.pop(101_000)] == [0]
    assert jitter.discard(2, 5) == 3
    assert jitter.push(3, 60_000, b"genuine", 120_000)  # no longer a duplicate
    played = jitter.pop(1_000_000)
    assert [(i.seq, i.payload) for i in played] == [
        (1, b"forged"),  # not in the range: played as it was
        (2, None),
        (3, b"genuine"),
        (4, None),
        (5, b"forged"),
    ]
