"""The vote-relay messages: round trips, limits, and every way a request or reply is refused."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from djmesh.protocol import cbor
from djmesh.protocol.errors import MalformedMessageError, MessageTooLargeError, ProtocolError
from djmesh.protocol.votes import (
    BASE_FIELD,
    MAX_REASON_CHARS,
    MAX_RELAY_REQUEST_BYTES,
    SCALAR_FIELD,
    InfoRequest,
    MalformedRelayMessageError,
    RelayInfo,
    RelayMessageTooLargeError,
    RelayRefused,
    VoteRequest,
    VoteSubmitted,
    decode_reply,
    decode_request,
)

BATTLE = bytes(range(32))
PROOF = tuple(BASE_FIELD - 1 - i for i in range(8))
ADDRESS = "0x" + "ab" * 20


def vote_request(**changes: object) -> dict[str, object]:
    fields: dict[str, object] = {
        "type": "vote",
        "battle": BATTLE,
        "choice": 1,
        "root": (SCALAR_FIELD - 1).to_bytes(32, "big"),
        "nullifier": (12345).to_bytes(32, "big"),
        "proof": [w.to_bytes(32, "big") for w in PROOF],
    }
    fields.update(changes)
    return fields


def test_requests_and_replies_round_trip() -> None:
    vote = VoteRequest(BATTLE, 1, SCALAR_FIELD - 1, 12345, PROOF)
    assert len(vote.encode()) < MAX_RELAY_REQUEST_BYTES
    assert decode_request(vote.encode()) == vote
    assert decode_request(InfoRequest().encode()) == InfoRequest()
    for reply in (
        RelayInfo(ADDRESS, 31337, "0x" + "cd" * 20),
        VoteSubmitted(b"\x01" * 32, SCALAR_FIELD - 1),
        RelayRefused("nullifier already used", retry=False),
    ):
        assert decode_reply(reply.encode()) == reply


@pytest.mark.parametrize(
    ("changes", "match"),
    [
        ({"choice": 8}, "choice"),
        ({"choice": True}, "choice"),
        ({"battle": b"\x00" * 31}, "battle"),
        ({"root": SCALAR_FIELD.to_bytes(32, "big")}, "root is not a BN254 scalar"),
        ({"nullifier": (SCALAR_FIELD + 7).to_bytes(32, "big")}, "nullifier"),
        ({"proof": [w.to_bytes(32, "big") for w in PROOF[:7]]}, "8 words"),
        ({"proof": [BASE_FIELD.to_bytes(32, "big")] * 8}, "base-field"),
        ({"proof": [1] * 8}, "proof word"),
        ({"type": "claim"}, "unknown relay request type"),
        ({"extra": 1}, "exactly"),
    ],
)
def test_malformed_vote_requests_are_refused(changes: dict[str, object], match: str) -> None:
    with pytest.raises(MalformedRelayMessageError, match=match):
        decode_request(cbor.encode(vote_request(**changes)))


def test_limits_and_garbage() -> None:
    with pytest.raises(RelayMessageTooLargeError) as too_large:
        decode_request(bytes(MAX_RELAY_REQUEST_BYTES + 1))
    assert isinstance(too_large.value, MessageTooLargeError)
    with pytest.raises(MalformedRelayMessageError, match="not canonical CBOR") as garbage:
        decode_request(b"\xff")
    assert isinstance(garbage.value, MalformedMessageError)
    with pytest.raises(MalformedRelayMessageError, match="map with a type"):
        decode_request(cbor.encode([1, 2]))
    with pytest.raises(MalformedRelayMessageError, match="EVM address"):
        decode_reply(cbor.encode({"type": "info", "relayer": "0x12", "chain_id": 1, "gate": ADDRESS}))
    with pytest.raises(MalformedRelayMessageError, match="retry"):
        decode_reply(cbor.encode({"type": "refused", "reason": "no", "retry": 1}))
    with pytest.raises(MalformedRelayMessageError, match="reason"):
        decode_reply(cbor.encode({"type": "refused", "reason": "x" * (MAX_REASON_CHARS + 1), "retry": True}))


def test_refusal_reasons_are_cut_to_the_limit() -> None:
    refused = RelayRefused.because("execution reverted:\n" + "x" * 500, retry=True)
    assert len(refused.reason) == MAX_REASON_CHARS
    assert "\n" not in refused.reason
    assert decode_reply(refused.encode()) == refused


@given(st.binary(max_size=2 * MAX_RELAY_REQUEST_BYTES))
def test_arbitrary_bytes_only_raise_protocol_errors(data: bytes) -> None:
    for decode in (decode_request, decode_reply):
        with contextlib.suppress(ProtocolError):
            decode(data)
