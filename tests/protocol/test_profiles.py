"""Profile lookup messages: bounded both ways, anything else refused."""

from __future__ import annotations

import pytest

from djmesh.protocol import cbor
from djmesh.protocol.errors import MalformedMessageError, MessageTooLargeError
from djmesh.protocol.profiles import (
    MAX_PROFILE_AUTHORS,
    MAX_PROFILE_BYTES,
    MAX_PROFILE_REQUEST_BYTES,
    ProfileRequest,
    ProfileResponse,
)


def test_requests_and_responses_round_trip_at_their_limits() -> None:
    request = ProfileRequest(tuple(bytes([i]) * 32 for i in range(MAX_PROFILE_AUTHORS)))
    assert len(request.encode()) <= MAX_PROFILE_REQUEST_BYTES
    assert ProfileRequest.decode(request.encode()) == request
    response = ProfileResponse(tuple(b"x" * MAX_PROFILE_BYTES for _ in range(MAX_PROFILE_AUTHORS)))
    assert ProfileResponse.decode(response.encode()) == response


@pytest.mark.parametrize(
    "value",
    [
        {"authors": []},
        {"authors": [b"k" * 31]},
        {"authors": [b"k" * 32] * (MAX_PROFILE_AUTHORS + 1)},
        {"authors": ["12D3KooW"]},
        {"authors": [b"k" * 32], "more": True},
        [b"k" * 32],
    ],
)
def test_bad_requests_are_refused(value: object) -> None:
    with pytest.raises((MalformedMessageError, MessageTooLargeError)):
        ProfileRequest.decode(cbor.encode(value))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "value",
    [
        {"profiles": [b"p"] * (MAX_PROFILE_AUTHORS + 1)},
        {"profiles": [b"p" * (MAX_PROFILE_BYTES + 1)]},
        {"profiles": ["not bytes"]},
        {"profiles": b"p"},
        {},
    ],
)
def test_bad_responses_are_refused(value: object) -> None:
    with pytest.raises((MalformedMessageError, MessageTooLargeError)):
        ProfileResponse.decode(cbor.encode(value))  # type: ignore[arg-type]
