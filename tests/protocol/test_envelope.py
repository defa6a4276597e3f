from __future__ import annotations

import nacl.signing
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from djmesh.protocol import (
    BadSignatureError,
    Chat,
    FutureTimestampError,
    InvalidPayloadError,
    MalformedMessageError,
    MessageTooLargeError,
    NonCanonicalError,
    Post,
    ProtocolError,
    StaleTimestampError,
    UnknownKindError,
    UnsupportedVersionError,
    cbor,
    decode_envelope,
    sign,
)
from djmesh.protocol.envelope import SIGNING_CONTEXT

NOW = 1_790_000_000_000


def resign(fields: dict[cbor.CborKey, cbor.CborValue], key: nacl.signing.SigningKey) -> bytes:
    """Build an envelope by hand (to test what `sign` would never produce)."""
    unsigned = {k: v for k, v in fields.items() if k != "s"}
    signature = key.sign(SIGNING_CONTEXT + cbor.encode(unsigned)).signature
    return cbor.encode({**unsigned, "s": signature})


def fields_of(wire: bytes) -> dict[cbor.CborKey, cbor.CborValue]:
    value = cbor.decode(wire)
    assert isinstance(value, dict)
    return value


def test_signed_message_round_trips(signing_key: nacl.signing.SigningKey) -> None:
    envelope = sign(Post("first post", links=("djmesh:battle/1",)), signing_key, created_at_ms=NOW)
    decoded = decode_envelope(envelope.wire, now_ms=NOW)
    assert decoded == envelope
    assert decoded.message == Post("first post", links=("djmesh:battle/1",))
    assert decoded.author == bytes(signing_key.verify_key)
    assert decoded.author_peer_id.startswith("12D3KooW")
    assert len(decoded.content_id) == 32


def test_content_id_is_stable_and_distinguishes_messages(signing_key: nacl.signing.SigningKey) -> None:
    first = sign(Post("a"), signing_key, created_at_ms=NOW)
    again = sign(Post("a"), signing_key, created_at_ms=NOW)
    later = sign(Post("a"), signing_key, created_at_ms=NOW + 1)
    assert first.content_id == again.content_id
    assert first.content_id != later.content_id


def test_signature_from_another_key_is_refused(
    signing_key: nacl.signing.SigningKey, other_key: nacl.signing.SigningKey
) -> None:
    fields = fields_of(sign(Post("mine"), signing_key, created_at_ms=NOW).wire)
    forged = resign(fields, other_key)  # signed by other_key, claims signing_key as author
    with pytest.raises(BadSignatureError):
        decode_envelope(forged, now_ms=NOW)


def test_tampered_payload_is_refused(signing_key: nacl.signing.SigningKey) -> None:
    fields = fields_of(sign(Post("pay 1"), signing_key, created_at_ms=NOW).wire)
    fields["p"] = {"text": "pay 9"}
    with pytest.raises(BadSignatureError):
        decode_envelope(cbor.encode(fields), now_ms=NOW)


def test_future_and_stale_timestamps(signing_key: nacl.signing.SigningKey) -> None:
    wire = sign(Post("x"), signing_key, created_at_ms=NOW + 10 * 60_000).wire
    with pytest.raises(FutureTimestampError):
        decode_envelope(wire, now_ms=NOW)
    assert decode_envelope(wire, now_ms=NOW, max_skew_ms=11 * 60_000).created_at_ms == NOW + 600_000
    old = sign(Post("x"), signing_key, created_at_ms=NOW - 3_600_000).wire
    with pytest.raises(StaleTimestampError):
        decode_envelope(old, now_ms=NOW, max_age_ms=60_000)
    assert decode_envelope(old, now_ms=NOW).created_at_ms == NOW - 3_600_000  # history is fine


def test_unknown_version_and_kind(signing_key: nacl.signing.SigningKey) -> None:
    fields = fields_of(sign(Post("x"), signing_key, created_at_ms=NOW).wire)
    with pytest.raises(UnsupportedVersionError):
        decode_envelope(resign({**fields, "v": 2}, signing_key), now_ms=NOW)
    with pytest.raises(UnknownKindError):
        decode_envelope(resign({**fields, "k": "teleport"}, signing_key), now_ms=NOW)


@pytest.mark.parametrize(
    ("change", "error"),
    [
        ({"p": {"text": ""}}, InvalidPayloadError),
        ({"p": {"text": "x" * 2001}}, InvalidPayloadError),
        ({"p": {"text": "x", "extra": 1}}, InvalidPayloadError),
        ({"p": {"text": "bell\x07"}}, InvalidPayloadError),
        ({"p": [1, 2]}, InvalidPayloadError),
        ({"a": b"short"}, MalformedMessageError),
        ({"t": -5}, MalformedMessageError),
        ({"t": "yesterday"}, MalformedMessageError),
        ({"v": True}, MalformedMessageError),
        ({"k": 7}, MalformedMessageError),
        ({"extra": 1}, MalformedMessageError),
    ],
)
def test_malformed_envelopes_are_refused_with_their_own_error(
    signing_key: nacl.signing.SigningKey, change: dict[str, cbor.CborValue], error: type[ProtocolError]
) -> None:
    fields = fields_of(sign(Post("x"), signing_key, created_at_ms=NOW).wire)
    with pytest.raises(error):
        decode_envelope(resign({**fields, **change}, signing_key), now_ms=NOW)


def test_oversized_input_is_refused_before_parsing(signing_key: nacl.signing.SigningKey) -> None:
    with pytest.raises(MessageTooLargeError):
        decode_envelope(b"\xa0" * 70_000, now_ms=NOW)
    wire = sign(Post("fits the default limit"), signing_key, created_at_ms=NOW).wire
    with pytest.raises(MessageTooLargeError):
        decode_envelope(wire, now_ms=NOW, max_bytes=len(wire) - 1)


def test_non_canonical_envelope_is_refused(signing_key: nacl.signing.SigningKey) -> None:
    wire = sign(Chat(room="battle-1", text="gg"), signing_key, created_at_ms=NOW).wire
    assert wire[0] == 0xA6  # map of 6; rewrite it as a non-shortest head
    with pytest.raises(NonCanonicalError):
        decode_envelope(b"\xb8\x06" + wire[1:], now_ms=NOW)


def test_sign_refuses_invalid_messages(signing_key: nacl.signing.SigningKey) -> None:
    with pytest.raises(InvalidPayloadError):
        sign(Post(""), signing_key, created_at_ms=NOW)
    with pytest.raises(ValueError):
        sign(Post("x"), signing_key, created_at_ms=-1)


@settings(max_examples=300)
@given(st.binary(max_size=512))
def test_random_bytes_only_ever_raise_protocol_error(data: bytes) -> None:
    with pytest.raises(ProtocolError):
        decode_envelope(data, now_ms=NOW)


@settings(max_examples=300)
@given(st.data())
def test_mutated_envelopes_only_ever_raise_protocol_error(data: st.DataObject) -> None:
    key = nacl.signing.SigningKey(bytes(32))
    wire = bytearray(sign(Post("mutate me", links=("a", "b")), key, created_at_ms=NOW).wire)
    for _ in range(data.draw(st.integers(1, 4))):
        position = data.draw(st.integers(0, len(wire) - 1))
        wire[position] = data.draw(st.integers(0, 255))
    try:
        decoded = decode_envelope(bytes(wire), now_ms=NOW)
    except ProtocolError:
        return
    # Only a mutation that left the bytes unchanged can pass.
    assert decoded.wire == sign(Post("mutate me", links=("a", "b")), key, created_at_ms=NOW).wire
