"""Relay-tree control messages: round trips, size bounds by construction, strict refusal of anything else."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from djmesh.protocol.cbor import CborValue
from djmesh.protocol.errors import MalformedMessageError, ProtocolError
from djmesh.protocol.relay import (
    MAX_BATCH_FRAMES,
    MAX_FREE_CLAIM,
    MESSAGES,
    Accept,
    Candidate,
    Disown,
    End,
    Frames,
    Join,
    Leave,
    Manifest,
    Nack,
    PathUpdate,
    Pay,
    Ping,
    Pong,
    Probe,
    ProbeOk,
    Redirect,
    RelayMessage,
    decode_relay,
    frame_batches,
)
from djmesh.protocol.stream import (
    MAX_BITRATE,
    MAX_CONTROL_BYTES,
    MAX_FRAME_DATAGRAM,
    MAX_LIVE_BITRATE,
    MAX_LIVE_OPUS_PACKET,
    ControlReader,
    Frame,
    decode_frame,
    encode_control,
    live_vbr_fits,
    max_live_bitrate,
    opus_packet_bytes,
)
from tests.helpers.fuzz import fuzz_settings

STREAM = bytes(range(32))
SAMPLES: list[RelayMessage] = [
    Probe(STREAM),
    Probe(STREAM, (("10.0.0.9", 1),)),
    Probe(STREAM, gone=("10.0.0.8", 4433)),
    ProbeOk(2, 3, True),
    ProbeOk(2, 0, True, (Candidate(("10.0.0.3", 4433), 3, 2),)),
    Join(STREAM, ("10.0.0.2", 4433), 120, {"k": bytes(32), "t": 5, "g": bytes(64)}),
    Join(STREAM),
    Accept(1, (("10.0.0.1", 4433),), b"announce"),
    PathUpdate(3, (("10.0.0.4", 1), ("10.0.0.1", 4433))),
    Redirect("full", (Candidate(("10.0.0.3", 4433), 2, 5),)),
    Ping(123, 4),
    Pong(123, 1, 0),
    Nack((5, 6, 7)),
    Leave(),
    Manifest(b"m" * 100),
    Frames((b"f" * 100, b"g" * 20)),
    End(b"e" * 50),
    Disown(100, 150),
    Pay(b"v" * 450),
]


def wire_round_trip(message: RelayMessage) -> RelayMessage:
    (value,) = ControlReader().feed(encode_control(message.to_value()))
    return decode_relay(value)


@pytest.mark.parametrize("message", SAMPLES, ids=lambda m: type(m).__name__)
def test_every_message_survives_the_wire(message: RelayMessage) -> None:
    assert wire_round_trip(message) == message


def test_every_op_is_covered_and_bounded_by_construction() -> None:
    assert {type(m) for m in SAMPLES} == set(MESSAGES)
    for cls in MESSAGES:
        largest = cls.largest()
        size = len(encode_control(largest.to_value())) - 4
        assert size <= cls.MAX_BYTES <= MAX_CONTROL_BYTES, (cls.OP, size, cls.MAX_BYTES)
        assert wire_round_trip(largest) == largest


def test_a_192_kbit_catch_up_is_split_under_the_control_limit() -> None:
    """Three 1 s segments at 192 kbit/s were one 74 KB message (QuicLink closed the link); now batches."""
    frames = [Frame(seq, seq * 20_000, bytes(480)).encode() for seq in range(150)]
    batches = frame_batches(frames)
    assert len(batches) == 4 and all(len(b.data) <= MAX_BATCH_FRAMES for b in batches)
    assert [f for b in batches for f in b.data] == frames
    for batch in batches:
        assert len(encode_control(batch.to_value())) <= MAX_CONTROL_BYTES
    assert frame_batches([]) == []
    with pytest.raises(MalformedMessageError):
        Frames(tuple(frames[: MAX_BATCH_FRAMES + 1]))


@pytest.mark.parametrize("frame_ms", [10, 20])
def test_no_frame_a_source_may_make_is_refused_by_a_catch_up(frame_ms: int) -> None:
    """At any bitrate a source takes, its biggest packet (VBR or the constant bitrate it falls back to) makes a
    frame datagram that decodes and that ``frame_batches`` batches under the control limit (at 320 kbit/s VBR
    it made 1,276-byte packets: ``Frames`` raised inside the hub's join, breaking catch-up and resends)."""
    top = max_live_bitrate(frame_ms)
    assert top == (MAX_LIVE_BITRATE if frame_ms == 20 else MAX_BITRATE)
    assert MAX_LIVE_BITRATE == 457_000
    for bitrate in range(6_000, top + 1, 1_000):
        packet = opus_packet_bytes(bitrate, frame_ms, vbr=live_vbr_fits(bitrate, frame_ms))
        assert packet <= MAX_LIVE_OPUS_PACKET, bitrate
    assert opus_packet_bytes(top + 1_000, 20, vbr=False) > MAX_LIVE_OPUS_PACKET  # so the top is refused
    assert live_vbr_fits(228_000, 20) and not live_vbr_fits(229_000, 20)

    biggest = Frame(2**32 - 1, 2**63 - 1, bytes(MAX_LIVE_OPUS_PACKET)).encode()
    assert len(biggest) == MAX_FRAME_DATAGRAM and decode_frame(biggest).seq == 2**32 - 1
    frames = [biggest] * (3 * 250 + 1)  # more than a hub keeps at the longest segments
    batches = frame_batches(frames)
    assert [f for b in batches for f in b.data] == frames
    for batch in batches:
        assert len(encode_control(batch.to_value())) - 4 <= Frames.MAX_BYTES <= MAX_CONTROL_BYTES
    with pytest.raises(ProtocolError, match="frame datagram of 1157 bytes"):
        decode_frame(biggest + b"x")
    with pytest.raises(MalformedMessageError, match="frame"):
        frame_batches([biggest + b"x"])


@pytest.mark.parametrize(
    ("value", "why"),
    [
        ({"op": "nope"}, "unknown control op"),
        ({"op": 7}, "unknown control op"),
        ({"op": "probe", "stream": STREAM, "x": 1}, "unknown fields: x"),
        ({"op": "probe", "stream": b"short"}, "stream"),
        ({"op": "probe_ok", "hops": 1, "free": 1000, "live": True}, "free"),  # a Sybil's claim
        ({"op": "probe_ok", "hops": True, "free": 1, "live": True}, "hops"),
        ({"op": "probe_ok", "hops": 1, "free": 1, "live": 1}, "live"),
        ({"op": "ping", "t": 1, "free": MAX_FREE_CLAIM + 1}, "free"),
        ({"op": "ping", "t": -1, "free": 1}, "t"),
        ({"op": "ping", "t": 10**5000, "free": 1}, "t"),
        ({"op": "join", "stream": STREAM, "listen": "abc"}, "listen"),
        ({"op": "join", "stream": STREAM, "listen": ["é" * 3, 1]}, "ASCII"),
        ({"op": "join", "stream": STREAM, "listen": ["h" * 256, 1]}, "host"),
        ({"op": "join", "stream": STREAM, "listen": ["h", 70000]}, "port"),
        ({"op": "join", "stream": STREAM, "ticket": {"k": b"", "t": 1, "g": b""}}, "ticket"),
        ({"op": "probe", "stream": STREAM, "marks": [["h", 1]] * 5}, "marks"),
        ({"op": "accept", "hops": 0, "path": [], "announce": b""}, "hops"),
        ({"op": "accept", "hops": 1, "path": [["h", 1]] * 33, "announce": b""}, "path"),
        ({"op": "redirect", "reason": "x\x00", "candidates": []}, "reason"),
        ({"op": "redirect", "reason": "full", "candidates": [{"addr": ["h", 1], "hops": 1}]}, "candidate"),
        ({"op": "nack", "seqs": list(range(65))}, "seqs"),
        ({"op": "nack", "seqs": ["1"]}, "seq"),
        ({"op": "manifest", "data": b""}, "data"),
        ({"op": "manifest", "data": "text"}, "data"),
        ({"op": "frames", "data": [b"x"] * 49}, "data"),
        ({"op": "frames", "data": [b"x" * 2000]}, "frame"),
        ({"op": "frames", "data": []}, "data"),
        ({"op": "end", "data": b"e" * 5000}, "data"),
        ({"op": "disown", "from_seq": 10, "upto": 9}, "upto"),  # an empty range backwards
        ({"op": "disown", "from_seq": -1, "upto": 9}, "from_seq"),
    ],
)
def test_malformed_messages_are_refused_with_a_reason(value: dict[str, CborValue], why: str) -> None:
    with pytest.raises(MalformedMessageError, match=why):
        decode_relay(value)


cbor_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.binary(max_size=40) | st.text(max_size=40),
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=10), inner, max_size=5),
    max_leaves=20,
)


@pytest.mark.fuzz
@fuzz_settings()
@given(
    op=st.sampled_from([cls.OP for cls in MESSAGES] + ["x"]),
    fields=st.dictionaries(
        st.sampled_from(["stream", "hops", "free", "live", "listen", "from_seq", "ticket", "marks", "path"])
        | st.sampled_from(["announce", "reason", "candidates", "t", "seqs", "data", "zz"]),
        cbor_values,
        max_size=6,
    ),
)
def test_any_map_decodes_or_is_refused_with_a_protocol_error(op: str, fields: dict[str, CborValue]) -> None:
    try:
        message = decode_relay({"op": op, **fields})
    except ProtocolError:
        return
    assert len(encode_control(message.to_value())) - 4 <= type(message).MAX_BYTES
