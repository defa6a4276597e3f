"""Fuzzing the live stream's decoders (frames, signed segment manifests, the control byte stream): any
input is taken or refused with a ``ProtocolError``, never another exception, and a verifier fed
anything a relay can send never hands out a frame its DJ did not sign."""

from __future__ import annotations

import contextlib

import nacl.signing
import pytest
from hypothesis import given
from hypothesis import strategies as st

from djmesh.protocol import ProtocolError, cbor
from djmesh.protocol.stream import (
    ControlReader,
    Frame,
    SegmentSigner,
    StreamVerifier,
    VerifiedSegment,
    decode_frame,
    decode_manifest,
    encode_control,
)
from tests.helpers.fuzz import fuzz_settings

pytestmark = pytest.mark.fuzz
FUZZ = fuzz_settings()
DJ = nacl.signing.SigningKey(bytes(range(32)))
STREAM = bytes(32)


def genuine(count: int) -> tuple[list[Frame], list[bytes]]:
    signer = SegmentSigner(DJ, STREAM, segment_frames=4)
    frames, manifests = [], []
    for seq in range(count):
        frame = Frame(seq, seq * 20_000, bytes([seq % 256]) * 40)
        frames.append(frame)
        manifest = signer.add(frame)
        if manifest is not None:
            manifests.append(manifest.wire)
    return frames, manifests


@FUZZ
@given(st.binary(max_size=400))
def test_frames_and_manifests_decode_or_refuse(data: bytes) -> None:
    with contextlib.suppress(ProtocolError):
        decode_frame(data)
    with contextlib.suppress(ProtocolError):
        decode_manifest(data, bytes(DJ.verify_key))


@FUZZ
@given(
    st.lists(
        st.binary(max_size=60) | st.integers(0, 2**32 - 1).map(lambda n: n.to_bytes(4, "big")), max_size=8
    )
)
def test_the_control_stream_reader_splits_or_refuses(chunks: list[bytes]) -> None:
    """Length prefixes and bodies cut anywhere, as a byte stream arrives."""
    reader = ControlReader()
    with contextlib.suppress(ProtocolError):
        for chunk in chunks:
            for message in reader.feed(chunk):
                assert isinstance(message.get("op"), str)


@FUZZ
@given(
    st.dictionaries(
        st.text(max_size=8),
        st.integers(-(2**63), 2**63 - 1) | st.text(max_size=20) | st.binary(max_size=20),
        max_size=5,
    )
)
def test_a_control_message_round_trips_through_the_reader(fields: dict[str, cbor.CborValue]) -> None:
    message = {**fields, "op": "probe"}
    wire = encode_control(message)
    reader = ControlReader()
    got = [m for i in range(len(wire)) for m in reader.feed(wire[i : i + 1])]  # one byte at a time
    assert got == [message]


@FUZZ
@given(st.data())
def test_a_relay_sending_anything_never_gets_an_unsigned_frame_played(data: st.DataObject) -> None:
    frames, manifests = genuine(12)
    verifier = StreamVerifier(bytes(DJ.verify_key), STREAM, segment_frames=4)
    forged = data.draw(
        st.lists(
            st.builds(Frame, st.integers(0, 15), st.integers(0, 400_000), st.binary(max_size=40)), max_size=12
        )
    )
    junk = data.draw(st.lists(st.binary(max_size=200), max_size=4))
    inputs: list[Frame | bytes] = [*forged, *frames, *junk, *manifests]
    order = data.draw(st.permutations(range(len(inputs))))
    handed_out: list[Frame] = []
    for index in order:
        item = inputs[index]
        with contextlib.suppress(ProtocolError):
            event = verifier.add_frame(item) if isinstance(item, Frame) else verifier.add_manifest(item)
            if isinstance(event, VerifiedSegment):
                handed_out.extend(f for f in event.frames if f is not None)  # None: a gap
    assert set(handed_out) <= set(frames), "only frames the DJ signed are handed to playout"
