"""Deterministic CBOR (RFC 8949 section 4.2.1) for everything that is signed or hashed.

We own this codec rather than use a general library because the decoder must be strict:
it accepts exactly one encoding of each value (shortest heads, definite lengths, map keys
sorted bytewise and unique, shortest float form), so a content ID names one byte string,
and arbitrary input can only ever raise ``DecodeError``.

Supported data model: None, bool, int (-2**64 .. 2**64-1), float (finite), bytes, str,
list and dict (keys are str or int). No tags, no undefined, no indefinite lengths.
"""

from __future__ import annotations

import itertools
import math
import struct
from typing import TypeAlias

from djmesh.protocol.errors import DecodeError, NonCanonicalError

CborKey: TypeAlias = "str | int"
CborValue: TypeAlias = "bool | int | float | bytes | str | list[CborValue] | dict[CborKey, CborValue] | None"

MAX_DEPTH = 16
_UINT64_MAX = 2**64 - 1

_MT_UINT, _MT_NINT, _MT_BYTES, _MT_TEXT, _MT_ARRAY, _MT_MAP, _MT_TAG, _MT_SIMPLE = range(8)


def _head(major: int, value: int) -> bytes:
    if value < 24:
        return bytes([major << 5 | value])
    if value <= 0xFF:
        return bytes([major << 5 | 24, value])
    if value <= 0xFFFF:
        return bytes([major << 5 | 25]) + value.to_bytes(2, "big")
    if value <= 0xFFFFFFFF:
        return bytes([major << 5 | 26]) + value.to_bytes(4, "big")
    return bytes([major << 5 | 27]) + value.to_bytes(8, "big")


def _encode_float(value: float) -> bytes:
    if not math.isfinite(value):
        raise ValueError("NaN and infinities are not encodable")
    for fmt, marker in (("e", 0xF9), ("f", 0xFA)):
        try:
            packed = struct.pack(">" + fmt, value)
        except OverflowError:
            continue
        if struct.unpack(">" + fmt, packed)[0] == value:
            return bytes([marker]) + packed
    return b"\xfb" + struct.pack(">d", value)


def _encode_into(out: bytearray, value: CborValue, depth: int) -> None:
    if depth > MAX_DEPTH:
        raise ValueError("nesting deeper than MAX_DEPTH")
    if value is None:
        out += b"\xf6"
    elif value is True:
        out += b"\xf5"
    elif value is False:
        out += b"\xf4"
    elif isinstance(value, int):
        if 0 <= value <= _UINT64_MAX:
            out += _head(_MT_UINT, value)
        elif -(2**64) <= value < 0:
            out += _head(_MT_NINT, -1 - value)
        else:
            raise ValueError("integer outside the 64-bit CBOR range")
    elif isinstance(value, float):
        out += _encode_float(value)
    elif isinstance(value, bytes):
        out += _head(_MT_BYTES, len(value)) + value
    elif isinstance(value, str):
        raw = value.encode("utf-8")
        out += _head(_MT_TEXT, len(raw)) + raw
    elif isinstance(value, list | tuple):
        out += _head(_MT_ARRAY, len(value))
        for item in value:
            _encode_into(out, item, depth + 1)
    elif isinstance(value, dict):
        items = []
        for key, item in value.items():
            if isinstance(key, bool) or not isinstance(key, str | int):
                raise TypeError(f"map keys must be str or int, not {type(key).__name__}")
            items.append((encode(key), item))
        items.sort(key=lambda pair: pair[0])
        for (key_a, _), (key_b, _) in itertools.pairwise(items):
            if key_a == key_b:
                raise ValueError("duplicate map key")
        out += _head(_MT_MAP, len(items))
        for encoded_key, item in items:
            out += encoded_key
            _encode_into(out, item, depth + 1)
    else:
        raise TypeError(f"cannot encode {type(value).__name__} as CBOR")


def encode(value: CborValue) -> bytes:
    """The one deterministic encoding of ``value``."""
    out = bytearray()
    _encode_into(out, value, 0)
    return bytes(out)


class _Reader:
    __slots__ = ("data", "items_left", "pos")

    def __init__(self, data: bytes, max_items: int | None = None) -> None:
        self.data = data
        self.pos = 0
        self.items_left = len(data) if max_items is None else max_items  # an item takes a byte at least

    def take(self, n: int) -> bytes:
        end = self.pos + n
        if end > len(self.data):
            raise DecodeError("truncated input")
        chunk = self.data[self.pos : end]
        self.pos = end
        return chunk

    def head(self) -> tuple[int, int, int]:
        """(major type, additional info, argument) with shortest-form checks."""
        initial = self.take(1)[0]
        major, info = initial >> 5, initial & 0x1F
        if major == _MT_SIMPLE or info < 24:
            return major, info, info
        if info > 27:
            raise DecodeError("indefinite lengths and reserved additional info are not allowed")
        size = 1 << (info - 24)
        argument = int.from_bytes(self.take(size), "big")
        minimum = 24 if size == 1 else 1 << (8 * (size // 2))
        if argument < minimum:
            raise NonCanonicalError("integer or length not in its shortest form")
        return major, info, argument


def _decode_item(reader: _Reader, depth: int) -> CborValue:
    if depth > MAX_DEPTH:
        raise DecodeError("nesting deeper than MAX_DEPTH")
    reader.items_left -= 1
    if reader.items_left < 0:
        raise DecodeError("more items than allowed")
    major, info, argument = reader.head()
    if major == _MT_UINT:
        return argument
    if major == _MT_NINT:
        return -1 - argument
    if major == _MT_BYTES:
        return reader.take(argument)
    if major == _MT_TEXT:
        try:
            return reader.take(argument).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise DecodeError("text string is not valid UTF-8") from exc
    if major == _MT_ARRAY:
        if argument > len(reader.data) - reader.pos:
            raise DecodeError("array longer than the remaining input")
        return [_decode_item(reader, depth + 1) for _ in range(argument)]
    if major == _MT_MAP:
        if argument * 2 > len(reader.data) - reader.pos:
            raise DecodeError("map longer than the remaining input")
        result: dict[CborKey, CborValue] = {}
        previous: bytes | None = None
        for _ in range(argument):
            start = reader.pos
            key = _decode_item(reader, depth + 1)
            encoded_key = reader.data[start : reader.pos]
            if isinstance(key, bool) or not isinstance(key, str | int):
                raise DecodeError("map keys must be text or integers")
            if previous is not None and encoded_key <= previous:
                raise NonCanonicalError("map keys not in sorted order or repeated")
            previous = encoded_key
            result[key] = _decode_item(reader, depth + 1)
        return result
    if major == _MT_TAG:
        raise DecodeError("tags are not supported")
    return _decode_simple(reader, info)


def _decode_simple(reader: _Reader, info: int) -> CborValue:
    if info == 20:
        return False
    if info == 21:
        return True
    if info == 22:
        return None
    if info in (25, 26, 27):
        fmt = {25: ">e", 26: ">f", 27: ">d"}[info]
        raw = reader.take({25: 2, 26: 4, 27: 8}[info])
        value: float = struct.unpack(fmt, raw)[0]
        if not math.isfinite(value):
            raise DecodeError("NaN and infinities are not allowed")
        if _encode_float(value)[1:] != raw:
            raise NonCanonicalError("float not in its shortest exact form")
        return value
    raise DecodeError(f"unsupported simple value {info}")


def decode(data: bytes, *, depth: int = 0, max_items: int | None = None) -> CborValue:
    """Decode exactly one item that must fill ``data`` and be in deterministic form.

    ``depth``: how deep the item sits inside an enclosing value (nesting counts from there).
    ``max_items``: refuse (``DecodeError``) past this many items in all, before building them.
    """
    if not isinstance(data, bytes | bytearray | memoryview):
        raise DecodeError("input must be bytes")
    reader = _Reader(bytes(data), max_items)
    value = _decode_item(reader, depth)
    if reader.pos != len(reader.data):
        raise DecodeError("trailing bytes after the item")
    return value


def decode_scalar(data: bytes, pos: int) -> tuple[CborValue, int]:
    """One item at ``pos`` that is not an array or map, and where it ends (strict, like ``decode``).

    Lets a caller read the small fields around a large value without decoding that value.
    """
    reader = _Reader(data)
    reader.pos = pos
    major = data[pos] >> 5 if 0 <= pos < len(data) else -1
    if major in (_MT_ARRAY, _MT_MAP, _MT_TAG):
        raise DecodeError("expected a scalar, found an array, map or tag")
    value = _decode_item(reader, MAX_DEPTH)
    return value, reader.pos


def decode_head(data: bytes, pos: int) -> tuple[int, int, int]:
    """(major type, argument, end) of the item head at ``pos``, refusing non-shortest forms."""
    reader = _Reader(data)
    reader.pos = pos
    major, _, argument = reader.head()
    return major, argument, reader.pos
