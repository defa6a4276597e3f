"""The signed envelope every djmesh message travels in, and its strict decoder.

Wire form: the deterministic CBOR map ``{"a": author, "k": kind, "p": payload,
"s": signature, "t": created_at_ms, "v": version}``. The signature is Ed25519 over
``SIGNING_CONTEXT + encode(map without "s")``; the content ID is SHA-256 of the whole wire
form. Ed25519 signatures are deterministic, so a message has exactly one content ID.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import nacl.exceptions
import nacl.signing

from djmesh.protocol import cbor
from djmesh.protocol.errors import (
    BadSignatureError,
    FutureTimestampError,
    MalformedMessageError,
    MessageTooLargeError,
    ProtocolError,
    StaleTimestampError,
    UnknownKindError,
    UnsupportedVersionError,
)
from djmesh.protocol.messages import MESSAGE_KINDS, Message, all_kinds
from djmesh.protocol.peer_id import peer_id_from_public_key

PROTOCOL_VERSION = 1
SUPPORTED_VERSIONS = frozenset({PROTOCOL_VERSION})
SIGNING_CONTEXT = b"djmesh/envelope/v1\x00"
MAX_ENVELOPE_BYTES = 64 * 1024
DEFAULT_MAX_SKEW_MS = 2 * 60 * 1000
_ENVELOPE_KEYS = frozenset({"a", "k", "p", "s", "t", "v"})
_MAX_TIMESTAMP_MS = 2**53


@dataclass(frozen=True)
class SignedEnvelope:
    """A verified message. Only ``sign`` and ``decode_envelope`` make these."""

    kind: str
    version: int
    author: bytes
    created_at_ms: int
    message: Message
    signature: bytes
    wire: bytes

    @property
    def content_id(self) -> bytes:
        return hashlib.sha256(self.wire).digest()

    @property
    def author_peer_id(self) -> str:
        return peer_id_from_public_key(self.author)


def _unsigned_map(
    kind: str, version: int, author: bytes, created_at_ms: int, payload: cbor.CborValue
) -> dict[cbor.CborKey, cbor.CborValue]:
    return {"v": version, "k": kind, "a": author, "t": created_at_ms, "p": payload}


def sign(message: Message, signing_key: nacl.signing.SigningKey, *, created_at_ms: int) -> SignedEnvelope:
    """Sign ``message`` as the owner of ``signing_key``; the result round-trips through the decoder."""
    if not 0 <= created_at_ms < _MAX_TIMESTAMP_MS:
        raise ValueError("created_at_ms out of range")
    author = bytes(signing_key.verify_key)
    payload: dict[cbor.CborKey, cbor.CborValue] = dict(message.to_payload().items())
    # Refuse to sign what an honest peer would refuse to accept.
    type(message).parse(payload)
    unsigned = _unsigned_map(message.KIND, PROTOCOL_VERSION, author, created_at_ms, payload)
    signature = signing_key.sign(SIGNING_CONTEXT + cbor.encode(unsigned)).signature
    wire = cbor.encode({**unsigned, "s": signature})
    if len(wire) > MAX_ENVELOPE_BYTES:
        raise MessageTooLargeError(f"message is {len(wire)} bytes; the limit is {MAX_ENVELOPE_BYTES}")
    return SignedEnvelope(message.KIND, PROTOCOL_VERSION, author, created_at_ms, message, signature, wire)


def decode_envelope(
    data: bytes,
    *,
    now_ms: int | None,
    max_skew_ms: int = DEFAULT_MAX_SKEW_MS,
    max_age_ms: int | None = None,
    max_bytes: int = MAX_ENVELOPE_BYTES,
) -> SignedEnvelope:
    """Decode and verify one envelope, or raise a ``ProtocolError`` subclass saying why not.

    ``now_ms`` is explicit (sans-IO); ``None`` skips the clock checks, for messages read
    back from our own store. ``max_age_ms`` refuses stale messages on live channels.
    """
    if not isinstance(data, bytes | bytearray | memoryview):
        raise MalformedMessageError("envelope must be bytes")
    if len(data) > max_bytes:
        raise MessageTooLargeError(f"message is {len(data)} bytes; the limit is {max_bytes}")
    data = bytes(data)
    value = cbor.decode(data)
    if not isinstance(value, dict) or set(value) != _ENVELOPE_KEYS:
        raise MalformedMessageError("envelope must be a map with exactly the keys a, k, p, s, t, v")
    version, kind, author = value["v"], value["k"], value["a"]
    created_at_ms, payload, signature = value["t"], value["p"], value["s"]
    if not isinstance(version, int) or isinstance(version, bool):
        raise MalformedMessageError("version must be an integer")
    if version not in SUPPORTED_VERSIONS:
        raise UnsupportedVersionError(f"protocol version {version} is not supported")
    if not isinstance(kind, str):
        raise MalformedMessageError("kind must be text")
    message_class = MESSAGE_KINDS.get(kind) or all_kinds().get(kind)
    if message_class is None:
        raise UnknownKindError(f"unknown message kind {kind[:40]!r}")
    if not isinstance(author, bytes) or len(author) != 32:
        raise MalformedMessageError("author must be a 32-byte Ed25519 public key")
    if not isinstance(signature, bytes) or len(signature) != 64:
        raise MalformedMessageError("signature must be 64 bytes")
    if not isinstance(created_at_ms, int) or isinstance(created_at_ms, bool):
        raise MalformedMessageError("created_at must be an integer (ms since the Unix epoch)")
    if not 0 <= created_at_ms < _MAX_TIMESTAMP_MS:
        raise MalformedMessageError("created_at out of range")
    if now_ms is not None:
        if created_at_ms > now_ms + max_skew_ms:
            raise FutureTimestampError(f"created_at is {created_at_ms - now_ms} ms in the future")
        if max_age_ms is not None and created_at_ms < now_ms - max_age_ms:
            raise StaleTimestampError(f"created_at is {now_ms - created_at_ms} ms old")
    message = message_class.parse(payload)
    signed_bytes = SIGNING_CONTEXT + cbor.encode(_unsigned_map(kind, version, author, created_at_ms, payload))
    try:
        nacl.signing.VerifyKey(author).verify(signed_bytes, signature)
    except (nacl.exceptions.CryptoError, ValueError, TypeError) as exc:
        raise BadSignatureError("signature does not verify against the author's key") from exc
    return SignedEnvelope(kind, version, author, created_at_ms, message, signature, data)


__all__ = [
    "DEFAULT_MAX_SKEW_MS",
    "MAX_ENVELOPE_BYTES",
    "PROTOCOL_VERSION",
    "ProtocolError",
    "SignedEnvelope",
    "decode_envelope",
    "sign",
]
