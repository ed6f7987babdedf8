from __future__ import annotations

import math

import pytest

from protocol.values import Int64
from server.errors import FunctionError
from server.functions.filters import compare_values, compile_filter
from server.store.keys import MISSING_FIELD

DOC = {"author": "ann", "n": 3.0, "count": 2, "big": Int64(6), "meta": {"ok": True}}


def matches(predicate) -> bool:
    return compile_filter(predicate).evaluate(DOC) is True


def test_convex_type_order():
    ordered = [
        MISSING_FIELD,
        None,
        Int64(-5),
        Int64(7),
        -math.inf,
        0,
        0.5,
        math.nan,
        False,
        True,
        "",
        "a",
        b"",
        [],
        {},
    ]
    for a, b in zip(ordered, ordered[1:], strict=False):
        assert compare_values(a, b) < 0, (a, b)


def test_int64_and_float_are_different_values():
    assert compare_values(Int64(1), 1.0) != 0


def test_a_plain_int_is_the_float64_it_equals():
    assert compare_values(1, 1.0) == 0


@pytest.mark.parametrize(
    ("predicate", "expected"),
    [
        (lambda q: q.eq(q.field("author"), "ann"), True),
        (lambda q: q.neq(q.field("author"), "ann"), False),
        (lambda q: q.gt(q.field("n"), 2.0), True),
        (lambda q: q.lte(q.field("n"), 2.0), False),
        (lambda q: q.eq(q.field("meta.ok"), True), True),
        (lambda q: q.eq(q.field("missing"), None), False),
        (lambda q: q.lt(q.field("missing"), None), True),
        (lambda q: q.and_(q.eq(q.field("author"), "ann"), q.gte(q.field("n"), 3.0)), True),
        (lambda q: q.and_(q.eq(q.field("author"), "ann"), q.gt(q.field("n"), 3.0)), False),
        (lambda q: q.or_(q.eq(q.field("author"), "bob"), q.eq(q.field("n"), 3.0)), True),
        (lambda q: q.not_(q.eq(q.field("author"), "ann")), False),
        (lambda q: q.eq(q.add(q.field("n"), 1.0), 4.0), True),
        (lambda q: q.eq(q.mod(q.field("count"), 2), 0), True),
        (lambda q: q.eq(q.field("n"), 3), True),
        (lambda q: q.eq(q.field("n"), Int64(3)), False),
        (lambda q: q.eq(q.div(q.field("count"), 4), 0.5), True),
        (lambda q: q.eq(q.div(q.field("big"), Int64(4)), Int64(1)), True),
        (lambda q: q.eq(q.neg(q.field("big")), Int64(-6)), True),
        (lambda q: q.eq(q.add(q.field("big"), Int64(2**63 - 1)), Int64(-(2**63) + 5)), True),
    ],
)
def test_filter_expressions_evaluate_with_convex_semantics(predicate, expected):
    assert matches(predicate) is expected


def test_arithmetic_on_mixed_number_types_is_an_error():
    with pytest.raises(FunctionError, match="one type"):
        matches(lambda q: q.eq(q.add(q.field("n"), Int64(1)), 4.0))


def test_python_and_between_expressions_is_refused():
    with pytest.raises(FunctionError, match="q.and_"):
        matches(lambda q: q.eq(q.field("a"), 1.0) and q.eq(q.field("b"), 2.0))
