"""Every way the protocol layer refuses input.

Callers catch ``ProtocolError`` to drop a bad message with a logged reason; the subclasses
let them count and score each reason separately (a peer that sends bad signatures is
treated differently from one whose clock is ahead).
"""

from __future__ import annotations


class ProtocolError(Exception):
    """Base class: the input was refused. Nothing else escapes the decoder."""


class DecodeError(ProtocolError):
    """The bytes are not well-formed CBOR within our supported subset."""


class NonCanonicalError(DecodeError):
    """Well-formed CBOR, but not in the one deterministic form (two encodings, one message)."""


class MessageTooLargeError(ProtocolError):
    """Over the size limit: refused before any parsing work is done."""


class MalformedMessageError(ProtocolError):
    """The envelope does not have the required fields and types."""


class UnsupportedVersionError(ProtocolError):
    """A protocol version this node does not speak."""


class UnknownKindError(ProtocolError):
    """A message kind this node does not know."""


class InvalidPayloadError(MalformedMessageError):
    """The payload does not satisfy its kind's schema."""


class BadSignatureError(ProtocolError):
    """The signature does not verify against the author's key."""


class FutureTimestampError(ProtocolError):
    """created_at is further in the future than the allowed clock skew."""


class StaleTimestampError(ProtocolError):
    """created_at is older than a live channel accepts (history sync has no such limit)."""


class NotAuthorError(ProtocolError):
    """Relayed as published by someone other than its author: on gossip only authors publish
    their own messages (others' messages travel by history sync), so this is a replay."""
