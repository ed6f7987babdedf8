from __future__ import annotations

import pytest

from server.errors import FunctionError
from server.functions.ranges import KeyInterval, interval_for
from server.store.keys import encode_tuple, index_key, prefix_end

FIELDS = ("channel", "_creationTime")
INDEX = "messages.by_channel"


def keys_inside(interval: KeyInterval, keys: list[bytes]) -> list[bytes]:
    return [k for k in keys if interval.start <= k and (interval.end is None or k < interval.end)]


def test_no_expression_is_the_whole_index():
    assert interval_for(INDEX, FIELDS, None) == KeyInterval(b"", None)


def test_eq_selects_exactly_the_keys_with_that_prefix():
    interval = interval_for(INDEX, FIELDS, lambda q: q.eq("channel", "a"))
    keys = [
        index_key(("a", 1.0), "id1"),
        index_key(("a", 9.0), "id2"),
        index_key(("ab", 1.0), "id3"),
        index_key(("", 1.0), "id4"),
        index_key((None, 1.0), "id5"),
    ]
    assert keys_inside(interval, keys) == keys[:2]
    assert interval == KeyInterval(encode_tuple(["a"]), prefix_end(encode_tuple(["a"])))


@pytest.mark.parametrize(
    ("expression", "expected_times"),
    [
        (lambda q: q.eq("channel", "a").gt("_creationTime", 2.0), [3.0, 4.0]),
        (lambda q: q.eq("channel", "a").gte("_creationTime", 2.0), [2.0, 3.0, 4.0]),
        (lambda q: q.eq("channel", "a").lt("_creationTime", 3.0), [1.0, 2.0]),
        (lambda q: q.eq("channel", "a").lte("_creationTime", 3.0), [1.0, 2.0, 3.0]),
        (
            lambda q: q.eq("channel", "a").gt("_creationTime", 1.0).lte("_creationTime", 3.0),
            [2.0, 3.0],
        ),
    ],
)
def test_bounds_after_eq_select_the_right_keys(expression, expected_times):
    keys = {t: index_key(("a", t), f"id{int(t)}") for t in (1.0, 2.0, 3.0, 4.0)}
    others = [index_key(("b", 2.5), "x"), index_key(("", 9.0), "y")]
    interval = interval_for(INDEX, FIELDS, expression)
    inside = keys_inside(interval, [*keys.values(), *others])
    assert inside == [keys[t] for t in expected_times]


def test_range_on_first_field_without_eq():
    interval = interval_for(INDEX, FIELDS, lambda q: q.gte("channel", "b").lt("channel", "d"))
    keys = [index_key((c, 1.0), "i") for c in ("a", "b", "c", "cz", "d")]
    assert keys_inside(interval, keys) == keys[1:4]


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        (lambda q: q.eq("_creationTime", 1.0), "next field of the index is 'channel'"),
        (lambda q: q.gt("channel", "a").eq("channel", "b"), "cannot follow"),
        (lambda q: q.gt("channel", "a").gte("channel", "b"), "at most one lower bound"),
        (lambda q: q.lt("channel", "a").lte("channel", "b"), "at most one upper bound"),
        (
            lambda q: q.eq("channel", "a").gt("body", 1.0),
            "next field of the index is '_creationTime'",
        ),
        (lambda q: q.eq("channel", "a").eq("_creationTime", 1.0).eq("x", 1), "already constrained"),
        (lambda q: None, "must return the q"),
    ],
)
def test_misused_range_expression_is_a_clear_function_error(expression, message):
    with pytest.raises(FunctionError, match=message):
        interval_for(INDEX, FIELDS, expression)
