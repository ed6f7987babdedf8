"""Byte order of encoded values matches Convex's order of the values."""

from __future__ import annotations

import functools
import math
import random
import struct
from typing import Any

import pytest

from protocol.values import Int64
from server.store.keys import (
    MISSING_FIELD,
    doc_field_values,
    encode_tuple,
    encode_value,
    index_key,
    prefix_end,
    successor,
)

# A plain int is a float64, so it ranks (and compares) as the float it equals.
_RANK = {
    type(None): 1,
    Int64: 2,
    int: 3,
    float: 3,
    bool: 4,
    str: 5,
    bytes: 6,
    list: 7,
    dict: 8,
}


def _rank(value: Any) -> int:
    return 0 if value is MISSING_FIELD else _RANK[type(value)]


def reference_compare(a: Any, b: Any) -> int:
    """Convex order, written independently of the encoder."""
    ra, rb = _rank(a), _rank(b)
    if ra != rb:
        return -1 if ra < rb else 1
    if type(a) in (int, float):
        return _compare_floats(float(a), float(b))
    if isinstance(a, str):
        return _cmp(a.encode(), b.encode())
    if isinstance(a, list):
        return _compare_sequences(a, b)
    if isinstance(a, dict):
        return _compare_sequences([[k, a[k]] for k in sorted(a)], [[k, b[k]] for k in sorted(b)])
    return _cmp(a, b) if a is not None and a is not MISSING_FIELD else 0


def _compare_floats(a: float, b: float) -> int:
    if math.isnan(a) or math.isnan(b):
        return _cmp(math.isnan(a), math.isnan(b))
    if a == b:
        return _cmp(math.copysign(1, a), math.copysign(1, b))
    return _cmp(a, b)


def _compare_sequences(a: list[Any], b: list[Any]) -> int:
    for x, y in zip(a, b, strict=False):
        c = reference_compare(x, y)
        if c:
            return c
    return _cmp(len(a), len(b))


def _cmp(a: Any, b: Any) -> int:
    return (a > b) - (a < b)


def random_value(rng: random.Random, depth: int = 0) -> Any:
    kind = rng.choice(
        ["null", "int", "float", "bool", "str", "bytes", "number", "list", "dict"][
            : 9 if depth < 2 else 7
        ]
    )
    if kind == "null":
        return None
    if kind == "int":
        return Int64(
            rng.choice(
                [
                    0,
                    1,
                    -1,
                    2**63 - 1,
                    -(2**63),
                    rng.randint(-(2**63), 2**63 - 1),
                    rng.randint(-5, 5),
                ]
            )
        )
    if kind == "number":
        return rng.choice([0, 1, -1, 2**53, -(2**53), rng.randint(-(2**53), 2**53)])
    if kind == "float":
        special = [0.0, -0.0, math.inf, -math.inf, math.nan, 5e-324, -5e-324, 1.0, -1.0]
        return rng.choice(
            special + [rng.uniform(-1e6, 1e6), struct.unpack("<d", rng.randbytes(8))[0]]
        )
    if kind == "bool":
        return rng.random() < 0.5
    if kind == "str":
        return "".join(
            rng.choice(["a", "b", "\x00", "\x01", "é", "\U0001f600", "ÿ"])
            for _ in range(rng.randint(0, 4))
        )
    if kind == "bytes":
        return bytes(rng.choice([0, 1, 255, 97]) for _ in range(rng.randint(0, 4)))
    if kind == "list":
        return [random_value(rng, depth + 1) for _ in range(rng.randint(0, 3))]
    return {
        rng.choice(["a", "b", "c", "ab"]): random_value(rng, depth + 1)
        for _ in range(rng.randint(0, 3))
    }


def _assert_orders_agree(values: list[Any]) -> None:
    by_reference = sorted(values, key=functools.cmp_to_key(reference_compare))
    by_encoding = sorted(values, key=encode_value)
    for x, y in zip(by_reference, by_encoding, strict=True):
        # Equal-ranked values may swap places; their encodings must then be equal too.
        assert reference_compare(x, y) == 0, (x, y)


@pytest.mark.parametrize("seed", range(20))
def test_sorting_by_encoding_matches_convex_order(seed: int) -> None:
    rng = random.Random(seed)
    _assert_orders_agree([random_value(rng) for _ in range(300)] + [MISSING_FIELD])


@pytest.mark.parametrize("seed", range(5))
def test_pairwise_comparison_of_encodings_matches_reference(seed: int) -> None:
    rng = random.Random(1000 + seed)
    for _ in range(2000):
        a, b = random_value(rng), random_value(rng)
        assert _cmp(encode_value(a), encode_value(b)) == reference_compare(a, b), (a, b)


def test_types_sort_in_convex_order() -> None:
    ordered = [
        MISSING_FIELD,
        None,
        Int64(-(2**63)),
        Int64(2**63 - 1),
        -math.inf,
        math.nan,
        False,
        True,
        "",
        b"",
        [],
        {},
    ]
    encodings = [encode_value(v) for v in ordered]
    assert encodings == sorted(encodings)


def test_negative_zero_sorts_before_zero_and_nan_after_infinity() -> None:
    assert encode_value(-0.0) < encode_value(0.0) < encode_value(math.inf) < encode_value(math.nan)
    assert encode_value(-math.nan) == encode_value(math.nan)


def test_int64_and_float_of_equal_magnitude_are_different_keys() -> None:
    assert encode_value(Int64(1)) < encode_value(0.5)
    assert encode_value(True) != encode_value(1)


def test_a_plain_int_is_the_same_key_as_the_float_it_equals() -> None:
    assert encode_value(5) == encode_value(5.0)
    assert encode_value(-(2**53)) == encode_value(float(-(2**53)))
    assert encode_value(0.5) < encode_value(1) < encode_value(1.5)


def test_string_is_before_its_extensions_even_with_nul() -> None:
    assert (
        encode_value("a") < encode_value("a\x00") < encode_value("a\x00a") < encode_value("a\x01")
    )


def test_no_encoding_is_a_prefix_of_another_distinct_value() -> None:
    rng = random.Random(7)
    encoded = {encode_value(random_value(rng)) for _ in range(400)}
    for a in encoded:
        for b in encoded:
            assert a == b or not b.startswith(a), (a, b)


def test_tuples_with_a_common_prefix_form_one_contiguous_range() -> None:
    rng = random.Random(3)
    tuples = [[rng.choice(["a", "a\x00", "ab", ""]), random_value(rng)] for _ in range(300)]
    keys = sorted(encode_tuple(t) for t in tuples)
    for head in ["a", "a\x00", "ab", ""]:
        start = encode_tuple([head])
        end = prefix_end(start)
        assert end is not None
        inside = [k for k in keys if start <= k < end]
        expected = [encode_tuple(t) for t in tuples if t[0] == head]
        assert sorted(inside) == sorted(expected)


def test_index_key_is_values_then_the_id_as_a_string() -> None:
    assert index_key(["x", 1], "abc") == encode_tuple(["x", 1, "abc"])
    assert index_key([], "abc") == encode_value("abc")


def test_prefix_end_is_the_least_upper_bound_of_the_prefix() -> None:
    assert prefix_end(b"ab") == b"ac"
    assert prefix_end(b"a\xff\xff") == b"b"
    assert prefix_end(b"\xff\xff") is None
    assert prefix_end(b"") is None


def test_successor_is_the_next_byte_string() -> None:
    key = encode_value("k")
    assert key < successor(key) < key + b"\x00\x00"
    assert not successor(key) < encode_value("k")


def test_doc_field_values_follows_dotted_paths_and_marks_missing() -> None:
    doc = {"a": {"b": 2}, "c": None, "d": 5}
    assert doc_field_values(doc, ["a.b", "c", "x", "d.e", "a"]) == (
        2,
        None,
        MISSING_FIELD,
        MISSING_FIELD,
        {"b": 2},
    )


def test_non_convex_values_are_refused() -> None:
    with pytest.raises(TypeError):
        encode_value(object())
    with pytest.raises(ValueError):
        encode_value(2**53 + 1)  # a float64 cannot hold it exactly
