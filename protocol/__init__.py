"""djmesh.protocol: the sans-IO core (formats, validation, state machines); no sockets, no asyncio."""

# Modules that register further message kinds; imported here so every decoder knows them.
from djmesh.protocol import battle as _battle  # noqa: F401
from djmesh.protocol import stream as _stream  # noqa: F401
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
