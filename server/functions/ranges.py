"""Index range expressions: `lambda q: q.eq("channel", c).gt("_creationTime", t)`.

A range expression selects a contiguous slice of an index: equalities on a
prefix of the index fields, in order, then at most one lower bound (`gt` or
`gte`) and at most one upper bound (`lt` or `lte`) on the next field.
Because index keys are prefix-free tuple encodings (server.store.keys), that
slice is one byte interval `[start, end)`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal, TypeAlias

from server.errors import FunctionError
from server.store.keys import encode_tuple, prefix_end

__all__ = ["IndexRangeBuilder", "KeyInterval", "RangeFunction", "interval_for"]

RangeFunction: TypeAlias = "Callable[[IndexRangeBuilder], object]"
"""`with_index(name, lambda q: q.eq(...))`: must return the builder it was given."""

LowerOp = Literal["gt", "gte"]
UpperOp = Literal["lt", "lte"]


@dataclass(frozen=True, slots=True)
class KeyInterval:
    """A half-open byte interval `[start, end)`; `end=None` is unbounded."""

    start: bytes
    end: bytes | None

    @property
    def is_empty(self) -> bool:
        return self.end is not None and self.end <= self.start


class IndexRangeBuilder:
    """The `q` handed to a `with_index` range function. Each method returns
    the builder so calls chain; misuse raises `FunctionError` at once."""

    __slots__ = ("_index", "_fields", "_eqs", "_lower", "_upper")

    def __init__(self, index: str, fields: tuple[str, ...]) -> None:
        self._index = index
        self._fields = fields
        self._eqs: list[Any] = []
        self._lower: tuple[LowerOp, Any] | None = None
        self._upper: tuple[UpperOp, Any] | None = None

    def eq(self, field: str, value: Any) -> IndexRangeBuilder:
        if self._lower is not None or self._upper is not None:
            self._fail(f"eq({field!r}) cannot follow a gt/gte/lt/lte bound")
        self._expect_field(field, len(self._eqs), "eq")
        self._eqs.append(value)
        return self

    def gt(self, field: str, value: Any) -> IndexRangeBuilder:
        return self._set_lower("gt", field, value)

    def gte(self, field: str, value: Any) -> IndexRangeBuilder:
        return self._set_lower("gte", field, value)

    def lt(self, field: str, value: Any) -> IndexRangeBuilder:
        return self._set_upper("lt", field, value)

    def lte(self, field: str, value: Any) -> IndexRangeBuilder:
        return self._set_upper("lte", field, value)

    def interval(self) -> KeyInterval:
        """The byte interval of index keys this expression selects."""
        prefix = _encode(self._eqs, self._index)
        if self._lower is None:
            start = prefix
        else:
            lower_op, value = self._lower
            bound = prefix + _encode([value], self._index)
            # Keys equal to the bound all start with its encoding (prefix-free).
            start = bound if lower_op == "gte" else _after_prefix(bound)
        if self._upper is None:
            end = prefix_end(prefix)
        else:
            upper_op, value = self._upper
            bound = prefix + _encode([value], self._index)
            end = bound if upper_op == "lt" else prefix_end(bound)
        return KeyInterval(start, end)

    def _set_lower(self, op: LowerOp, field: str, value: Any) -> IndexRangeBuilder:
        if self._lower is not None:
            self._fail(f"{op}({field!r}): a range has at most one lower bound (gt or gte)")
        self._check_bound_field(op, field)
        self._lower = (op, value)
        return self

    def _set_upper(self, op: UpperOp, field: str, value: Any) -> IndexRangeBuilder:
        if self._upper is not None:
            self._fail(f"{op}({field!r}): a range has at most one upper bound (lt or lte)")
        self._check_bound_field(op, field)
        self._upper = (op, value)
        return self

    def _check_bound_field(self, op: str, field: str) -> None:
        # Bounds go on the field right after the equalities, so both share it.
        self._expect_field(field, len(self._eqs), op)

    def _expect_field(self, field: str, position: int, op: str) -> None:
        if position >= len(self._fields):
            self._fail(f"{op}({field!r}): every field of the index is already constrained")
        expected = self._fields[position]
        if field != expected:
            self._fail(
                f"{op}({field!r}): the next field of the index is {expected!r}; "
                "constrain the index fields in order"
            )

    def _fail(self, detail: str) -> None:
        raise FunctionError(
            f"Invalid range expression for index {self._index!r} "
            f"(fields {list(self._fields)!r}): {detail}"
        )


def _after_prefix(bound: bytes) -> bytes:
    end = prefix_end(bound)
    # No byte string follows an all-0xFF bound; an empty interval at it is right.
    return bound if end is None else end


def _encode(values: list[Any], index: str) -> bytes:
    try:
        return encode_tuple(values)
    except (TypeError, ValueError) as exc:
        raise FunctionError(
            f"Invalid value in range expression for index {index!r}: {exc}"
        ) from None


def interval_for(
    index: str, fields: tuple[str, ...], expression: RangeFunction | None
) -> KeyInterval:
    """Run a user's range function (or None: the whole index) and return its interval."""
    builder = IndexRangeBuilder(index, fields)
    if expression is not None:
        result = expression(builder)
        if result is not builder:
            raise FunctionError(
                f"The range function for index {index!r} must return the q it was given "
                "(e.g. lambda q: q.eq(...))"
            )
    return builder.interval()
