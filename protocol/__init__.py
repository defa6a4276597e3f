"""djmesh.protocol: the sans-IO core (formats, validation, state machines); no sockets, no asyncio.

Names are resolved lazily, so that importing one small part (``peer_id`` for ``djmesh id``) does not
build every message class. The modules that register further message kinds (battles, streams) are
loaded by the first decode of a kind not yet known (``messages.all_kinds``), so every decoder knows them.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from djmesh.protocol.envelope import (
        DEFAULT_MAX_SKEW_MS,
        MAX_ENVELOPE_BYTES,
        PROTOCOL_VERSION,
        SignedEnvelope,
        decode_envelope,
        sign,
    )
    from djmesh.protocol.errors import (
        BadSignatureError,
        DecodeError,
        FutureTimestampError,
        InvalidPayloadError,
        MalformedMessageError,
        MessageTooLargeError,
        NonCanonicalError,
        NotAuthorError,
        ProtocolError,
        StaleTimestampError,
        UnknownKindError,
        UnsupportedVersionError,
    )
    from djmesh.protocol.messages import (
        MESSAGE_KINDS,
        Chat,
        CrewCreate,
        CrewMembership,
        Follow,
        Message,
        Post,
        Profile,
        Reaction,
        Unfollow,
    )
    from djmesh.protocol.peer_id import peer_id_from_public_key, public_key_from_peer_id

__all__ = [
    "DEFAULT_MAX_SKEW_MS",
    "MAX_ENVELOPE_BYTES",
    "MESSAGE_KINDS",
    "PROTOCOL_VERSION",
    "BadSignatureError",
    "Chat",
    "CrewCreate",
    "CrewMembership",
    "DecodeError",
    "Follow",
    "FutureTimestampError",
    "InvalidPayloadError",
    "MalformedMessageError",
    "Message",
    "MessageTooLargeError",
    "NonCanonicalError",
    "NotAuthorError",
    "Post",
    "Profile",
    "ProtocolError",
    "Reaction",
    "SignedEnvelope",
    "StaleTimestampError",
    "Unfollow",
    "UnknownKindError",
    "UnsupportedVersionError",
    "decode_envelope",
    "peer_id_from_public_key",
    "public_key_from_peer_id",
    "sign",
]

_EXPORTS = {
    **dict.fromkeys(
        (
            "DEFAULT_MAX_SKEW_MS",
            "MAX_ENVELOPE_BYTES",
            "PROTOCOL_VERSION",
            "SignedEnvelope",
            "decode_envelope",
            "sign",
        ),
        "djmesh.protocol.envelope",
    ),
    **dict.fromkeys(
        (
            "BadSignatureError",
            "DecodeError",
            "FutureTimestampError",
            "InvalidPayloadError",
            "MalformedMessageError",
            "MessageTooLargeError",
            "NonCanonicalError",
            "NotAuthorError",
            "ProtocolError",
            "StaleTimestampError",
            "UnknownKindError",
            "UnsupportedVersionError",
        ),
        "djmesh.protocol.errors",
    ),
    **dict.fromkeys(
        (
            "Chat",
            "CrewCreate",
            "CrewMembership",
            "Follow",
            "Message",
            "Post",
            "Profile",
            "Reaction",
            "Unfollow",
        ),
        "djmesh.protocol.messages",
    ),
    **dict.fromkeys(("peer_id_from_public_key", "public_key_from_peer_id"), "djmesh.protocol.peer_id"),
}


def __getattr__(name: str) -> Any:
    if name == "MESSAGE_KINDS":  # the whole table, battles and streams included
        from djmesh.protocol.messages import all_kinds

        return all_kinds()
    if name in _EXPORTS:
        return getattr(import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'djmesh.protocol' has no attribute {name!r}")
