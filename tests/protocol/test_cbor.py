from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from djmesh.protocol import cbor
from djmesh.protocol.errors import DecodeError, NonCanonicalError

# RFC 8949 Appendix A examples that are in our data model and in deterministic form.
RFC_EXAMPLES: list[tuple[cbor.CborValue, str]] = [
    (0, "00"),
    (23, "17"),
    (24, "1818"),
    (100, "1864"),
    (1000, "1903e8"),
    (1000000, "1a000f4240"),
    (1000000000000, "1b000000e8d4a51000"),
    (18446744073709551615, "1bffffffffffffffff"),
    (-1, "20"),
    (-1000, "3903e7"),
    (-18446744073709551616, "3bffffffffffffffff"),
    (0.0, "f90000"),
    (-0.0, "f98000"),
    (1.0, "f93c00"),
    (1.1, "fb3ff199999999999a"),
    (1.5, "f93e00"),
    (65504.0, "f97bff"),
    (100000.0, "fa47c35000"),
    (1.0e300, "fb7e37e43c8800759c"),
    (-4.1, "fbc010666666666666"),
    (False, "f4"),
    (True, "f5"),
    (None, "f6"),
    (b"", "40"),
    (b"\x01\x02\x03\x04", "4401020304"),
    ("", "60"),
    ("a", "6161"),
    ("IETF", "6449455446"),
    ("\u00fc", "62c3bc"),
    ("\u6c34", "63e6b0b4"),
    ([], "80"),
    ([1, 2, 3], "83010203"),
    ([1, [2, 3], [4, 5]], "8301820203820405"),
    ({}, "a0"),
    ({1: 2, 3: 4}, "a201020304"),
    ({"a": 1, "b": [2, 3]}, "a26161016162820203"),
    ({"a": "A", "b": "B", "c": "C", "d": "D", "e": "E"}, "a56161614161626142616361436164614461656145"),
]


@pytest.mark.parametrize(("value", "encoded"), RFC_EXAMPLES)
def test_rfc8949_examples_encode_and_decode(value: cbor.CborValue, encoded: str) -> None:
    assert cbor.encode(value).hex() == encoded
    decoded = cbor.decode(bytes.fromhex(encoded))
    assert decoded == value
    if isinstance(value, float):
        assert math.copysign(1, decoded) == math.copysign(1, value)  # type: ignore[arg-type]


def test_map_keys_are_sorted_bytewise_regardless_of_insertion_order() -> None:
    assert cbor.encode({"bb": 1, "a": 2, 10: 3, -1: 4}) == cbor.encode({-1: 4, 10: 3, "a": 2, "bb": 1})
    assert cbor.encode({"bb": 1, "a": 2}).hex() == "a261610262626201"


@pytest.mark.parametrize(
    ("encoded", "why"),
    [
        ("1817", "integer not shortest"),
        ("190017", "integer not shortest"),
        ("5801ff", "length not shortest"),
        ("fa3f800000", "float not shortest (1.0 fits in half)"),
        ("a2616201616102", "map keys unsorted"),
        ("a2616101616102", "map keys repeated"),
    ],
)
def test_non_deterministic_encodings_are_refused(encoded: str, why: str) -> None:
    with pytest.raises(NonCanonicalError):
        cbor.decode(bytes.fromhex(encoded))


@pytest.mark.parametrize(
    "encoded",
    [
        "",  # empty
        "18",  # truncated argument
        "62c3",  # truncated text
        "5f4101ff",  # indefinite length
        "c11a514b67b0",  # tag
        "f97e00",  # NaN
        "f97c00",  # infinity
        "f7",  # undefined
        "0000",  # trailing bytes
        "62c328",  # invalid UTF-8
        "a1f600",  # null as map key
        "9bffffffffffffffff",  # absurd array length
        "81" * 40 + "00",  # too deep
    ],
)
def test_malformed_input_raises_decode_error(encoded: str) -> None:
    with pytest.raises(DecodeError):
        cbor.decode(bytes.fromhex(encoded))


def test_encoder_refuses_values_outside_the_model() -> None:
    with pytest.raises(ValueError):
        cbor.encode(math.nan)
    with pytest.raises(ValueError):
        cbor.encode(2**64)
    with pytest.raises(TypeError):
        cbor.encode({(1, 2): 3})  # type: ignore[dict-item]
    with pytest.raises(TypeError):
        cbor.encode(object())  # type: ignore[arg-type]


cbor_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**64), max_value=2**64 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.binary(max_size=64)
    | st.text(max_size=64),
    lambda children: (
        st.lists(children, max_size=6)
        | st.dictionaries(st.text(max_size=8) | st.integers(-1000, 1000), children, max_size=6)
    ),
    max_leaves=30,
)


@given(cbor_values)
def test_every_value_round_trips_to_identical_bytes(value: cbor.CborValue) -> None:
    encoded = cbor.encode(value)
    decoded = cbor.decode(encoded)
    assert cbor.encode(decoded) == encoded


@given(st.binary(max_size=256))
def test_random_bytes_only_ever_raise_decode_error(data: bytes) -> None:
    try:
        value = cbor.decode(data)
    except DecodeError:
        return
    # Anything accepted is in deterministic form: it re-encodes to the same bytes.
    assert cbor.encode(value) == data


def test_an_item_budget_refuses_before_building() -> None:
    value = [[0] * 10] * 10  # 111 items
    assert cbor.decode(cbor.encode(value), max_items=111) == value
    with pytest.raises(DecodeError, match="more items"):
        cbor.decode(cbor.encode(value), max_items=110)
