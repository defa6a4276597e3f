"""Field readers for payload validation: each returns a typed value or raises InvalidPayloadError.

Payloads are strict: every field is checked for type and bounds, and unknown fields are
refused, so two nodes never disagree about what a signed message says.
"""

from __future__ import annotations

from collections.abc import Mapping

from djmesh.protocol.cbor import CborValue
from djmesh.protocol.errors import InvalidPayloadError

Payload = Mapping[str, CborValue]


def as_payload(value: CborValue) -> Payload:
    if not isinstance(value, dict) or not all(isinstance(key, str) for key in value):
        raise InvalidPayloadError("payload must be a map with text keys")
    return {str(key): item for key, item in value.items()}


def only_fields(payload: Payload, allowed: set[str]) -> None:
    unknown = sorted(set(payload) - allowed)
    if unknown:
        raise InvalidPayloadError(f"unknown payload fields: {', '.join(unknown)}")


def text(
    payload: Payload, name: str, *, max_chars: int, min_chars: int = 0, default: str | None = None
) -> str:
    value = payload.get(name, default)
    if not isinstance(value, str):
        raise InvalidPayloadError(f"{name}: expected text")
    if not min_chars <= len(value) <= max_chars:
        raise InvalidPayloadError(f"{name}: length must be {min_chars}..{max_chars} characters")
    if any(ord(char) < 32 and char not in "\n\t" for char in value):
        raise InvalidPayloadError(f"{name}: control characters are not allowed")
    return value


def choice(payload: Payload, name: str, options: tuple[str, ...]) -> str:
    value = payload.get(name)
    if value not in options:
        raise InvalidPayloadError(f"{name}: must be one of {', '.join(options)}")
    assert isinstance(value, str)
    return value


def digest(payload: Payload, name: str, *, optional: bool = False) -> bytes | None:
    """A 32-byte value: a public key, a content ID or a content hash."""
    value = payload.get(name)
    if value is None and optional:
        return None
    if not isinstance(value, bytes) or len(value) != 32:
        raise InvalidPayloadError(f"{name}: expected 32 bytes")
    return value


def required_digest(payload: Payload, name: str) -> bytes:
    value = digest(payload, name)
    assert value is not None
    return value


def digest_list(payload: Payload, name: str, *, max_items: int) -> tuple[bytes, ...]:
    value = payload.get(name, [])
    if not isinstance(value, list) or len(value) > max_items:
        raise InvalidPayloadError(f"{name}: expected a list of at most {max_items} items")
    if not all(isinstance(item, bytes) and len(item) == 32 for item in value):
        raise InvalidPayloadError(f"{name}: every item must be 32 bytes")
    return tuple(item for item in value if isinstance(item, bytes))


def text_list(payload: Payload, name: str, *, max_items: int, max_chars: int) -> tuple[str, ...]:
    value = payload.get(name, [])
    if not isinstance(value, list) or len(value) > max_items:
        raise InvalidPayloadError(f"{name}: expected a list of at most {max_items} items")
    return tuple(text({name: item}, name, max_chars=max_chars, min_chars=1) for item in value)


def text_map(payload: Payload, name: str, *, max_items: int, max_chars: int) -> tuple[tuple[str, str], ...]:
    value = payload.get(name, {})
    if not isinstance(value, dict) or len(value) > max_items:
        raise InvalidPayloadError(f"{name}: expected a map of at most {max_items} entries")
    pairs = []
    for key, item in value.items():
        if not isinstance(key, str) or not 1 <= len(key) <= 32:
            raise InvalidPayloadError(f"{name}: keys must be text of 1..32 characters")
        pairs.append((key, text({name: item}, name, max_chars=max_chars, min_chars=1)))
    return tuple(sorted(pairs))


def integer(payload: Payload, name: str, *, minimum: int, maximum: int) -> int:
    value = payload.get(name)
    if not isinstance(value, int) or isinstance(value, bool) or not minimum <= value <= maximum:
        raise InvalidPayloadError(f"{name}: expected an integer in {minimum}..{maximum}")
    return value


def blob(payload: Payload, name: str, *, max_bytes: int) -> bytes:
    value = payload.get(name)
    if not isinstance(value, bytes) or len(value) > max_bytes:
        raise InvalidPayloadError(f"{name}: expected at most {max_bytes} bytes")
    return value
