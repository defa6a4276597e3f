"""Property-based fuzzing of every decoder a peer reaches: any input is accepted or refused with a
``ProtocolError``, never another exception. Example counts are bounded so CI stays fast; the
coverage-guided variant for long runs is ``fuzz_envelope.py`` (atheris)."""

from __future__ import annotations

import contextlib

import nacl.signing
import pytest
from hypothesis import given
from hypothesis import strategies as st

from djmesh.protocol import ProtocolError, cbor, decode_envelope, sign
from djmesh.protocol.envelope import SIGNING_CONTEXT
from djmesh.protocol.messages import Post, all_kinds
from djmesh.protocol.profiles import ProfileRequest, ProfileResponse
from djmesh.protocol.sync import SyncRequest, SyncResponse
from tests.helpers.fuzz import fuzz_settings

NOW = 1_790_000_000_000
KEY = nacl.signing.SigningKey(bytes(range(32)))
FUZZ = fuzz_settings()
pytestmark = pytest.mark.fuzz

scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**64), max_value=2**64 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.binary(max_size=80)
    | st.text(max_size=40)
)
cbor_values = st.recursive(
    scalars,
    lambda children: (
        st.lists(children, max_size=6) | st.dictionaries(st.text(max_size=12), children, max_size=6)
    ),
    max_leaves=30,
)
KINDS = sorted(all_kinds())


def field_payloads(kind: str) -> st.SearchStrategy[dict[str, cbor.CborValue]]:
    """Maps using the kind's own field names (reaching past the unknown-field check)."""
    names = sorted(getattr(all_kinds()[kind], "FIELDS", ())) or ["x"]
    return st.dictionaries(st.sampled_from(names), cbor_values, max_size=len(names))


@FUZZ
@given(st.sampled_from(KINDS), st.data())
def test_payload_parsers_refuse_with_protocol_errors(kind: str, data: st.DataObject) -> None:
    payload = data.draw(cbor_values | field_payloads(kind))
    with contextlib.suppress(ProtocolError):
        all_kinds()[kind].parse(payload)


@FUZZ
@given(st.sampled_from(KINDS), st.data())
def test_signed_envelopes_with_any_payload_decode_or_refuse(kind: str, data: st.DataObject) -> None:
    """Validly signed, so the fuzzing reaches past the signature into every payload decoder."""
    payload = data.draw(cbor_values | field_payloads(kind))
    unsigned = {"v": 1, "k": kind, "a": bytes(KEY.verify_key), "t": NOW, "p": payload}
    try:
        wire = cbor.encode({**unsigned, "s": KEY.sign(SIGNING_CONTEXT + cbor.encode(unsigned)).signature})
    except ValueError:  # deeper than the encoder allows
        return
    with contextlib.suppress(ProtocolError):
        decode_envelope(wire, now_ms=NOW)


@FUZZ
@given(st.data())
def test_envelope_frames_with_spliced_bytes_decode_or_refuse(data: st.DataObject) -> None:
    """Bytes cut into and out of a valid envelope's frame (the part read from both ends)."""
    wire = bytearray(sign(Post("frame", links=("a",)), KEY, created_at_ms=NOW).wire)
    start = data.draw(st.integers(0, len(wire)))
    end = data.draw(st.integers(start, min(len(wire), start + 12)))
    wire[start:end] = data.draw(st.binary(max_size=12))
    with contextlib.suppress(ProtocolError):
        decode_envelope(bytes(wire), now_ms=NOW)


@FUZZ
@given(st.binary(max_size=300) | cbor_values.map(lambda v: cbor.encode(v)))
def test_sync_and_profile_messages_decode_or_refuse(data: bytes) -> None:
    for decoder in (SyncRequest.decode, SyncResponse.decode, ProfileRequest.decode, ProfileResponse.decode):
        with contextlib.suppress(ProtocolError):
            decoder(data)


@FUZZ
@given(cbor_values)
def test_cbor_round_trips_or_refuses(value: cbor.CborValue) -> None:
    try:
        encoded = cbor.encode(value)
    except (ValueError, TypeError):
        return
    assert cbor.encode(cbor.decode(encoded)) == encoded


def test_the_strategies_reach_every_kind() -> None:
    assert len(KINDS) >= 10
    with pytest.raises(ProtocolError):
        all_kinds()["post"].parse({"text": 5})
