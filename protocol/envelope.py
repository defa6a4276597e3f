"""The signed envelope every djmesh message travels in, and its strict decoder.

Wire form: the deterministic CBOR map ``{"a": author, "k": kind, "p": payload,
"s": signature, "t": created_at_ms, "v": version}``. The signature is Ed25519 over
``SIGNING_CONTEXT + encode(map without "s")``; the content ID is SHA-256 of the whole wire
form. Ed25519 signatures are deterministic, so a message has exactly one content ID.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from dataclasses import dataclass

import nacl.exceptions
import nacl.signing

from djmesh.protocol import cbor
from djmesh.protocol.errors import (
    BadSignatureError,
    DecodeError,
    FutureTimestampError,
    MalformedMessageError,
    MessageTooLargeError,
    NotAuthorError,
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
# CBOR items in one payload: the largest payload (a battle result: 256 envelopes as byte strings,
# offences, scores) has under 1,000. The bound caps what a self-signed hostile payload costs to
# decode (about 2 us an item) before its schema can refuse it.
MAX_PAYLOAD_ITEMS = 4096
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


@dataclass(frozen=True)
class _Frame:
    """The envelope's fields around its payload, read without decoding the payload."""

    version: cbor.CborValue
    kind: cbor.CborValue
    author: cbor.CborValue
    created_at_ms: cbor.CborValue
    signature: cbor.CborValue
    payload_start: int
    signature_start: int  # where the "s" key begins (the payload ends there)
    signature_end: int

    def signed_bytes(self, data: bytes) -> bytes:
        """``SIGNING_CONTEXT`` + the encoding of the map without "s", cut from ``data``: the wire's
        keys are in canonical order (a, k, p, s, t, v), so dropping "s" and counting 5 keys suffices."""
        return b"".join(
            (SIGNING_CONTEXT, b"\xa5", data[1 : self.signature_start], data[self.signature_end :])
        )


_MAP_OF_SIX = 0xA6
_KEY = {name: cbor.encode(name) for name in ("a", "k", "p", "s", "t", "v")}
# How far from its end a field's value may start: v and t are small integers, s 64 bytes. A longer
# value is not a valid envelope anyway; the bound keeps the search constant-time.
_TAIL_SPAN = {"v": 16, "t": 24, "s": 80}
_MAX_FRAMES = 4


def _read_key(data: bytes, pos: int, name: str) -> int:
    key, end = cbor.decode_scalar(data, pos)
    if key != name:
        raise MalformedMessageError("envelope must be a map with exactly the keys a, k, p, s, t, v")
    return end


def _fields_ending_at(data: bytes, end: int, name: str, floor: int) -> list[tuple[cbor.CborValue, int]]:
    """(value, start of its key) for each way field ``name`` can end exactly at ``end``."""
    key, out = _KEY[name], []
    for start in range(end - 1, max(floor, end - _TAIL_SPAN[name]) - 1, -1):
        if data[start - len(key) : start] != key:
            continue
        try:
            value, stop = cbor.decode_scalar(data, start)
        except DecodeError:
            continue
        if stop == end:
            out.append((value, start - len(key)))
    return out


def _frames(data: bytes) -> list[_Frame]:
    """The envelope's frame: a, k and the "p" key read from the front, s, t, v from the back.

    Work is constant whatever the payload holds. More than one frame is possible only for crafted
    bytes; at most ``_MAX_FRAMES`` are tried, and a valid envelope's frame is always among them.
    """
    major, count, _ = cbor.decode_head(data, 0)
    if major != 5:
        raise DecodeError("an envelope is a CBOR map")
    if count != 6 or data[0] != _MAP_OF_SIX:
        raise MalformedMessageError("envelope must be a map with exactly the keys a, k, p, s, t, v")
    pos = _read_key(data, 1, "a")
    author, pos = cbor.decode_scalar(data, pos)
    pos = _read_key(data, pos, "k")
    kind, pos = cbor.decode_scalar(data, pos)
    payload_start = _read_key(data, pos, "p")
    frames = []
    for version, v_key in _fields_ending_at(data, len(data), "v", payload_start + 1):
        for created_at, t_key in _fields_ending_at(data, v_key, "t", payload_start + 1):
            for signature, s_key in _fields_ending_at(data, t_key, "s", payload_start + 1):
                frames.append(
                    _Frame(version, kind, author, created_at, signature, payload_start, s_key, t_key)
                )
                if len(frames) == _MAX_FRAMES:
                    return frames
    if not frames:
        raise DecodeError("not an envelope: it does not end in the fields s, t and v")
    return frames


def _check_fields(
    frame: _Frame, *, now_ms: int | None, max_skew_ms: int, max_age_ms: int | None
) -> type[Message]:
    """Everything about the fields but the signature; returns the payload's message class."""
    version, kind, author = frame.version, frame.kind, frame.author
    signature, created_at_ms = frame.signature, frame.created_at_ms
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
    _check_clock(created_at_ms, now_ms=now_ms, max_skew_ms=max_skew_ms, max_age_ms=max_age_ms)
    return message_class


def _verified_frame(
    data: bytes, *, now_ms: int | None, max_skew_ms: int, max_age_ms: int | None
) -> tuple[_Frame, type[Message]]:
    first_error: ProtocolError | None = None
    for frame in _frames(data):
        try:
            message_class = _check_fields(
                frame, now_ms=now_ms, max_skew_ms=max_skew_ms, max_age_ms=max_age_ms
            )
            assert isinstance(frame.author, bytes) and isinstance(frame.signature, bytes)
            try:
                nacl.signing.VerifyKey(frame.author).verify(frame.signed_bytes(data), frame.signature)
            except (nacl.exceptions.CryptoError, ValueError, TypeError) as exc:
                raise BadSignatureError("signature does not verify against the author's key") from exc
        except ProtocolError as error:
            first_error = first_error or error
            continue
        return frame, message_class
    assert first_error is not None
    raise first_error


class EnvelopeCache:
    """Envelopes already verified, by content ID: a message read or received again is not verified
    again (a signature check, a payload decode and parse). Bounded by count and by wire bytes (the
    parsed form is a few times larger); the least recently used are forgotten."""

    def __init__(self, capacity: int = 20_000, max_bytes: int = 16 * 1024 * 1024) -> None:
        self._capacity = capacity
        self._max_bytes = max_bytes
        self._bytes = 0
        self._items: OrderedDict[bytes, SignedEnvelope] = OrderedDict()
        self.hits = 0

    def get(self, content_id: bytes) -> SignedEnvelope | None:
        found = self._items.get(content_id)
        if found is not None:
            self._items.move_to_end(content_id)
            self.hits += 1
        return found

    def put(self, envelope: SignedEnvelope) -> None:
        content_id = envelope.content_id
        if content_id in self._items:
            self._items.move_to_end(content_id)
            return
        self._items[content_id] = envelope
        self._bytes += len(envelope.wire)
        while len(self._items) > self._capacity or self._bytes > self._max_bytes:
            _, dropped = self._items.popitem(last=False)
            self._bytes -= len(dropped.wire)

    def __len__(self) -> int:
        return len(self._items)


def decode_envelope(
    data: bytes,
    *,
    now_ms: int | None,
    max_skew_ms: int = DEFAULT_MAX_SKEW_MS,
    max_age_ms: int | None = None,
    max_bytes: int = MAX_ENVELOPE_BYTES,
    publisher: bytes | None = None,
    cache: EnvelopeCache | None = None,
) -> SignedEnvelope:
    """Decode and verify one envelope, or raise a ``ProtocolError`` subclass saying why not.

    Cheapest checks first, so refusing hostile bytes costs about what accepting a valid message
    does: the size; the fields around the payload (read from both ends, the payload untouched);
    the clock; the signature over the raw signed bytes; ``publisher`` (the key the transport says
    published ``data``: it must be the author); only then the payload is decoded and parsed.

    ``now_ms`` is explicit (sans-IO); ``None`` skips the clock checks, for messages read
    back from our own store. ``max_age_ms`` refuses stale messages on live channels.
    ``cache`` skips the signature and payload work for an envelope verified before.
    """
    if not isinstance(data, bytes | bytearray | memoryview):
        raise MalformedMessageError("envelope must be bytes")
    if len(data) > max_bytes:
        raise MessageTooLargeError(f"message is {len(data)} bytes; the limit is {max_bytes}")
    data = bytes(data)
    if not data:
        raise DecodeError("truncated input")
    cached = cache.get(hashlib.sha256(data).digest()) if cache is not None else None
    if cached is not None:
        _check_clock(cached.created_at_ms, now_ms=now_ms, max_skew_ms=max_skew_ms, max_age_ms=max_age_ms)
        _check_publisher(cached.author, publisher)
        return cached
    frame, message_class = _verified_frame(
        data, now_ms=now_ms, max_skew_ms=max_skew_ms, max_age_ms=max_age_ms
    )
    assert isinstance(frame.author, bytes) and isinstance(frame.signature, bytes)
    assert isinstance(frame.kind, str) and isinstance(frame.version, int)
    assert isinstance(frame.created_at_ms, int)
    _check_publisher(frame.author, publisher)
    payload = cbor.decode(
        data[frame.payload_start : frame.signature_start], depth=1, max_items=MAX_PAYLOAD_ITEMS
    )
    message = message_class.parse(payload)
    envelope = SignedEnvelope(
        frame.kind, frame.version, frame.author, frame.created_at_ms, message, frame.signature, data
    )
    if cache is not None:
        cache.put(envelope)
    return envelope


def _check_clock(created_at_ms: int, *, now_ms: int | None, max_skew_ms: int, max_age_ms: int | None) -> None:
    if now_ms is None:
        return
    if created_at_ms > now_ms + max_skew_ms:
        raise FutureTimestampError(f"created_at is {created_at_ms - now_ms} ms in the future")
    if max_age_ms is not None and created_at_ms < now_ms - max_age_ms:
        raise StaleTimestampError(f"created_at is {now_ms - created_at_ms} ms old")


def _check_publisher(author: bytes, publisher: bytes | None) -> None:
    if publisher is not None and publisher != author:
        raise NotAuthorError("published by someone other than its author")


__all__ = [
    "DEFAULT_MAX_SKEW_MS",
    "MAX_ENVELOPE_BYTES",
    "MAX_PAYLOAD_ITEMS",
    "PROTOCOL_VERSION",
    "EnvelopeCache",
    "ProtocolError",
    "SignedEnvelope",
    "decode_envelope",
    "sign",
]
