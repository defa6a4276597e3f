"""Profile lookup: ask a peer for the newest profiles it holds of a few authors.

A peer is shown by its profile name, but profiles travel on their author's topic, which only
followers subscribe to. A node showing a peer it holds no profile of (a battle's DJ, a chat
line, a leaderboard row) asks a few connected peers, the peer itself first. Both sides are
bounded: at most ``MAX_PROFILE_AUTHORS`` authors a request, one envelope each in the answer.
The asker checks every envelope as if gossiped, and keeps it only if it is a profile by one of
the authors it asked for; a peer can hold a profile back, or send an older one, but not forge
one. Serving counts against the same per-peer budget as history sync (``SyncLimiter``).
"""

from __future__ import annotations

from dataclasses import dataclass

from djmesh.protocol import cbor
from djmesh.protocol.errors import MalformedMessageError, MessageTooLargeError

PROFILE_PROTOCOL_ID = "/djmesh/profiles/1.0.0"
MAX_PROFILE_AUTHORS = 16
MAX_PROFILE_BYTES = 8 * 1024  # a profile's fields fit in ~4 KiB; a bigger envelope is not one
MAX_PROFILE_REQUEST_BYTES = 64 + MAX_PROFILE_AUTHORS * 40
MAX_PROFILE_RESPONSE_BYTES = 64 + MAX_PROFILE_AUTHORS * (MAX_PROFILE_BYTES + 8)


@dataclass(frozen=True)
class ProfileRequest:
    """The authors (Ed25519 public keys) whose newest profiles are wanted."""

    authors: tuple[bytes, ...]

    def encode(self) -> bytes:
        return cbor.encode({"authors": list(self.authors)})

    @classmethod
    def decode(cls, data: bytes) -> ProfileRequest:
        if len(data) > MAX_PROFILE_REQUEST_BYTES:
            raise MessageTooLargeError("profile request too large")
        value = cbor.decode(data)
        if not isinstance(value, dict) or set(value) != {"authors"}:
            raise MalformedMessageError("profile request must have exactly authors")
        authors = value["authors"]
        if not isinstance(authors, list) or not 1 <= len(authors) <= MAX_PROFILE_AUTHORS:
            raise MalformedMessageError(f"profile request needs 1..{MAX_PROFILE_AUTHORS} authors")
        if not all(isinstance(a, bytes) and len(a) == 32 for a in authors):
            raise MalformedMessageError("profile request authors must be 32-byte public keys")
        return cls(tuple(a for a in authors if isinstance(a, bytes)))


@dataclass(frozen=True)
class ProfileResponse:
    """Profile envelopes, at most one an author asked for (none for authors the peer does not know)."""

    profiles: tuple[bytes, ...]

    def encode(self) -> bytes:
        return cbor.encode({"profiles": list(self.profiles)})

    @classmethod
    def decode(cls, data: bytes) -> ProfileResponse:
        if len(data) > MAX_PROFILE_RESPONSE_BYTES:
            raise MessageTooLargeError("profile response too large")
        value = cbor.decode(data)
        if not isinstance(value, dict) or set(value) != {"profiles"}:
            raise MalformedMessageError("profile response must have exactly profiles")
        profiles = value["profiles"]
        if not isinstance(profiles, list) or len(profiles) > MAX_PROFILE_AUTHORS:
            raise MalformedMessageError(f"profile response holds at most {MAX_PROFILE_AUTHORS} envelopes")
        if not all(isinstance(p, bytes) and len(p) <= MAX_PROFILE_BYTES for p in profiles):
            raise MalformedMessageError("profile response entries must be profile envelopes")
        return cls(tuple(p for p in profiles if isinstance(p, bytes)))
