from __future__ import annotations

import math

import pytest

from protocol.errors import ValueDecodeError, ValueEncodeError
from protocol.values import (
    MAX_DEPTH,
    MAX_SAFE_INTEGER,
    Int64,
    RawJSON,
    Value,
    canonical_json,
    decode,
    decode_args,
    dumps,
    encode,
    encode_args,
    json_kind,
)

ROUND_TRIPS: list[tuple[Value, object]] = [
    (None, None),
    (True, True),
    (False, False),
    ("héllo", "héllo"),
    (1.5, 1.5),
    (5, 5),
    (-1, -1),
    (2**53, 2**53),
    (Int64(5), {"$integer": "BQAAAAAAAAA="}),
    (Int64(-1), {"$integer": "//////////8="}),
    (Int64(2**63 - 1), {"$integer": "/////////38="}),
    (Int64(-(2**63)), {"$integer": "AAAAAAAAAIA="}),
    (Int64(1099511627776), {"$integer": "AAAAAAABAAA="}),
    (b"\x01\x02\x03", {"$bytes": "AQID"}),
    (b"", {"$bytes": ""}),
    (math.inf, {"$float": "AAAAAAAA8H8="}),
    (-math.inf, {"$float": "AAAAAAAA8P8="}),
    (-0.0, {"$float": "AAAAAAAAAIA="}),
    ([1.0, [b"x", None]], [1.0, [{"$bytes": "eA=="}, None]]),
    (
        {"a": {"b": [True, {"c": Int64(2), "d": 2}]}},
        {"a": {"b": [True, {"c": {"$integer": "AgAAAAAAAAA="}, "d": 2}]}},
    ),
    ({}, {}),
    ({"": 1.0, "~ key": 2.0}, {"": 1.0, "~ key": 2.0}),
]


@pytest.mark.parametrize(("value", "wire"), ROUND_TRIPS)
def test_values_encode_to_the_documented_wire_form_and_back(value: Value, wire: object) -> None:
    assert encode(value) == wire
    decoded = decode(encode(value))
    assert decoded == value
    assert type(decoded) is type(value)


def test_nan_round_trips_through_the_float_escape() -> None:
    assert encode(math.nan) == {"$float": "AAAAAAAA+H8="}
    assert math.isnan(decode({"$float": "AAAAAAAA+H8="}))  # type: ignore[arg-type]


def test_negative_zero_keeps_its_sign() -> None:
    decoded = decode(encode(-0.0))
    assert isinstance(decoded, float)
    assert math.copysign(1.0, decoded) == -1.0
    assert encode(0.0) == 0.0


def test_tuples_encode_as_arrays_and_decode_as_lists() -> None:
    assert decode(encode((1, "a"))) == [1, "a"]


@pytest.mark.parametrize("wire", [5, 5.0])
def test_integral_json_numbers_decode_to_int(wire: float) -> None:
    # The JS client writes 5 for 5.0, the Python client 5.0: both are float64
    # 5, handed to functions as an int so `count + 1` and `range(n)` work.
    assert decode(wire) == 5
    assert type(decode(wire)) is int


@pytest.mark.parametrize("wire", [2.5, 1e300, -1e20, float(2**53 + 2)])
def test_fractional_and_huge_json_numbers_decode_to_float(wire: float) -> None:
    assert type(decode(wire)) is float
    assert decode(wire) == wire


def test_an_integer_json_number_beyond_2_53_is_a_float64() -> None:
    # JS writes 1e20 as 100000000000000000000; it is a float64, not an int64.
    assert decode(10**20) == 1e20
    assert type(decode(10**20)) is float


def test_a_plain_int_is_a_float64_on_the_wire() -> None:
    assert dumps(encode({"count": 5})) == '{"count":5}'
    assert encode(-MAX_SAFE_INTEGER) == -MAX_SAFE_INTEGER


@pytest.mark.parametrize("value", [2**53 + 1, -(2**53) - 1, 2**63, 10**30])
def test_an_int_float64_cannot_hold_exactly_is_refused_and_points_to_int64(value: int) -> None:
    with pytest.raises(ValueEncodeError, match=rf"int {value} cannot be represented.*Int64"):
        encode({"n": value})


def test_int64_is_an_int_that_keeps_its_type_through_the_codec() -> None:
    value = Int64(7)
    assert isinstance(value, int) and value == 7 and value + 1 == 8
    assert repr(value) == "Int64(7)"
    assert type(decode(encode([value]))[0]) is Int64  # type: ignore[index]


@pytest.mark.parametrize("value", [2**63, -(2**63) - 1, 10**30, 1.5])
def test_int64_refuses_values_outside_its_range(value: float) -> None:
    with pytest.raises(ValueError):
        Int64(value)


@pytest.mark.parametrize(
    ("key", "reason"),
    [
        ("$id", "reserved"),
        ("é", "ASCII"),
        ("tab\there", "ASCII"),
        ("del\x7f", "ASCII"),
        ("k" * 1025, "exceeds 1024"),
        (3, "not a string"),
    ],
)
def test_illegal_object_keys_are_refused_both_ways(key: object, reason: str) -> None:
    with pytest.raises(ValueEncodeError, match=reason):
        encode({key: 1.0})  # type: ignore[dict-item]
    if isinstance(key, str):
        with pytest.raises(ValueDecodeError, match=reason):
            decode({key: 1.0, "other": 2.0})


def test_a_key_of_exactly_1024_characters_is_allowed() -> None:
    key = "k" * 1024
    assert decode(encode({key: 1.0})) == {key: 1.0}


def test_errors_say_where_in_the_value_they_happened() -> None:
    with pytest.raises(ValueDecodeError, match=r"at value\.a\[1\]\.b: \$integer"):
        decode({"a": [1, {"b": {"$integer": "AQ=="}}]})
    with pytest.raises(ValueEncodeError, match=r"at value\.x\[0\]: set has no Convex encoding"):
        encode({"x": [{1}]})  # type: ignore[list-item]


@pytest.mark.parametrize(
    ("wire", "reason"),
    [
        ({"$set": []}, "no longer supported"),
        ({"$map": []}, "no longer supported"),
        ({"$commitTs": None}, "unknown special value"),
        ({"$whatever": 1}, "unknown special value"),
        ({"$integer": "AQ=="}, "expected 8"),
        ({"$integer": 5}, "base64 string"),
        ({"$bytes": "not base64!"}, "not valid base64"),
        ({"$float": "AAAAAAAA+D8="}, "should be encoded as a number"),
        ({"$float": "AAAAAAAAAAA="}, "should be encoded as a number"),
        ({"$float": "AAAA"}, "expected 8"),
        (10**400, "too large"),
    ],
)
def test_malformed_convex_json_is_refused(wire: object, reason: str) -> None:
    with pytest.raises(ValueDecodeError, match=reason):
        decode(wire)  # type: ignore[arg-type]


def test_non_json_python_objects_are_refused_on_decode() -> None:
    with pytest.raises(ValueDecodeError, match="not a JSON value"):
        decode(object())  # type: ignore[arg-type]


def test_nesting_deeper_than_the_limit_is_refused() -> None:
    deep: list[object] = []
    cursor = deep
    for _ in range(MAX_DEPTH + 1):
        inner: list[object] = []
        cursor.append(inner)
        cursor = inner
    with pytest.raises(ValueDecodeError, match="nested deeper"):
        decode(deep)  # type: ignore[arg-type]
    with pytest.raises(ValueEncodeError, match="nested deeper"):
        encode(deep)  # type: ignore[arg-type]


def test_a_self_referencing_list_is_refused_instead_of_recursing_forever() -> None:
    loop: list[object] = []
    loop.append(loop)
    with pytest.raises(ValueEncodeError, match="nested deeper"):
        encode(loop)  # type: ignore[arg-type]


def test_args_encode_as_a_one_element_array() -> None:
    assert encode_args({"x": Int64(1), "y": 1}) == [{"x": {"$integer": "AQAAAAAAAAA="}, "y": 1}]
    with pytest.raises(ValueEncodeError, match="must be a dict"):
        encode_args([1])  # type: ignore[arg-type]


def test_args_decode_from_the_array_form_and_the_bare_object_form() -> None:
    assert decode_args([{"x": {"$integer": "AQAAAAAAAAA="}}]) == {"x": 1}
    assert decode_args({"k": 1.0}) == {"k": 1.0}


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ([], "exactly one object, got 0"),
        ([{}, {}], "exactly one object, got 2"),
        ([5], "must be an object, got a number"),
        ("x", "must be an object, got a string"),
        (None, "must be an object, got null"),
        ([[1]], "must be an object, got an array"),
        (True, "must be an object, got a boolean"),
        ({"$integer": "AQAAAAAAAAA="}, "got a special value"),
    ],
)
def test_args_of_any_other_shape_are_refused(raw: object, reason: str) -> None:
    with pytest.raises(ValueDecodeError, match=reason):
        decode_args(raw)


def test_dumps_is_compact_and_refuses_nan_tokens() -> None:
    assert dumps({"a": [1, "é"]}) == '{"a":[1,"é"]}'
    with pytest.raises(ValueEncodeError, match="not serializable"):
        dumps(math.nan)
    with pytest.raises(ValueEncodeError, match="not serializable"):
        dumps({"a": {1, 2}})  # type: ignore[dict-item]


def test_canonical_json_is_independent_of_key_order() -> None:
    assert canonical_json({"b": 1, "a": [{"d": 1, "c": 2}]}) == '{"a":[{"c":2,"d":1}],"b":1}'
    assert canonical_json({"b": 1, "a": 2}) == canonical_json({"a": 2, "b": 1})
    with pytest.raises(ValueEncodeError):
        canonical_json(math.inf)


def test_raw_json_is_a_frozen_value() -> None:
    raw = RawJSON("[1]")
    assert raw == RawJSON("[1]")
    with pytest.raises(AttributeError):
        raw.text = "[2]"  # type: ignore[misc]


@pytest.mark.parametrize(
    ("value", "kind"),
    [
        (None, "null"),
        (True, "a boolean"),
        (1, "a number"),
        ("s", "a string"),
        ([], "an array"),
        ({}, "an object"),
        (b"", "bytes"),
    ],
)
def test_json_kind_names_each_type_for_error_messages(value: object, kind: str) -> None:
    assert json_kind(value) == kind
