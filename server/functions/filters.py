"""Filter expressions: `.filter(lambda q: q.and_(q.eq(q.field("a"), 1.0), ...))`.

The function given to `.filter` builds an expression tree once; the query
then evaluates it against every scanned document and keeps those for which
it is exactly `True`. Comparisons use the Convex order of values (missing
field < null < int64 < float64 < boolean < string < bytes < array < object),
which is the byte order of their index-key encodings, so filters and index
ranges agree on what "less than" means.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from protocol.values import Int64
from server.errors import FunctionError
from server.store.keys import MISSING_FIELD, encode_value

__all__ = ["Expression", "FilterBuilder", "compare_values", "compile_filter"]


def compare_values(a: Any, b: Any) -> int:
    """-1, 0 or 1 by Convex value order (`MISSING_FIELD` sorts first)."""
    try:
        left, right = encode_value(a), encode_value(b)
    except (TypeError, ValueError) as exc:
        raise FunctionError(f"Cannot compare values in a filter: {exc}") from None
    return (left > right) - (left < right)


class Expression:
    """A node of a filter expression tree."""

    __slots__ = ()

    def evaluate(self, doc: Mapping[str, Any]) -> Any:
        raise NotImplementedError

    def __bool__(self) -> bool:
        # `q.eq(...) and q.eq(...)` would silently drop the first operand.
        raise FunctionError(
            "Filter expressions cannot be used as Python booleans; use q.and_/q.or_/q.not_"
        )


@dataclass(frozen=True, slots=True)
class _Literal(Expression):
    value: Any

    def evaluate(self, doc: Mapping[str, Any]) -> Any:
        return self.value


@dataclass(frozen=True, slots=True)
class _Field(Expression):
    path: str

    def evaluate(self, doc: Mapping[str, Any]) -> Any:
        current: Any = doc
        for part in self.path.split("."):
            if not isinstance(current, Mapping) or part not in current:
                return MISSING_FIELD
            current = current[part]
        return current


@dataclass(frozen=True, slots=True)
class _Compare(Expression):
    test: Callable[[int], bool]
    left: Expression
    right: Expression

    def evaluate(self, doc: Mapping[str, Any]) -> Any:
        return self.test(compare_values(self.left.evaluate(doc), self.right.evaluate(doc)))


@dataclass(frozen=True, slots=True)
class _And(Expression):
    operands: tuple[Expression, ...]

    def evaluate(self, doc: Mapping[str, Any]) -> Any:
        return all(_truth(operand.evaluate(doc)) for operand in self.operands)


@dataclass(frozen=True, slots=True)
class _Or(Expression):
    operands: tuple[Expression, ...]

    def evaluate(self, doc: Mapping[str, Any]) -> Any:
        return any(_truth(operand.evaluate(doc)) for operand in self.operands)


@dataclass(frozen=True, slots=True)
class _Not(Expression):
    operand: Expression

    def evaluate(self, doc: Mapping[str, Any]) -> Any:
        return not _truth(self.operand.evaluate(doc))


@dataclass(frozen=True, slots=True)
class _Arithmetic(Expression):
    name: str
    apply: Callable[[Any, Any], Any]
    left: Expression
    right: Expression

    def evaluate(self, doc: Mapping[str, Any]) -> Any:
        a, b = self.left.evaluate(doc), self.right.evaluate(doc)
        kind = _number_kind(a)
        if kind is None or kind != _number_kind(b):
            raise FunctionError(
                f"q.{self.name}() needs two numbers of one type (both float64 or both Int64), "
                f"got {type(a).__name__} and {type(b).__name__}"
            )
        if kind == "float64":
            return self.apply(float(a), float(b))
        if b == 0 and self.name in ("div", "mod"):
            raise FunctionError(f"q.{self.name}(): int64 division by zero")
        return Int64(_wrap_int64(self.apply(a, b)))


@dataclass(frozen=True, slots=True)
class _Negate(Expression):
    operand: Expression

    def evaluate(self, doc: Mapping[str, Any]) -> Any:
        value = self.operand.evaluate(doc)
        kind = _number_kind(value)
        if kind is None:
            raise FunctionError(f"q.neg() needs a number, got {type(value).__name__}")
        return Int64(_wrap_int64(-value)) if kind == "int64" else -float(value)


def _truth(value: Any) -> bool:
    # Convex keeps a document only when the predicate is exactly true.
    return value is True


def _number_kind(value: Any) -> str | None:
    """ "int64", "float64" (a float or a plain int), or None for a non-number."""
    if isinstance(value, Int64):
        return "int64"
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return "float64"
    return None


def _wrap_int64(value: int) -> int:
    # int64 arithmetic wraps around, as in Rust and BigInt.asIntN(64, ...).
    return (value + 2**63) % 2**64 - 2**63


def _wrap(value: Any) -> Expression:
    return value if isinstance(value, Expression) else _Literal(value)


class FilterBuilder:
    """The `q` handed to a `.filter` function."""

    __slots__ = ()

    def field(self, path: str) -> Expression:
        """The value of a (dotted) field of the document, or missing."""
        return _Field(path)

    def eq(self, left: Any, right: Any) -> Expression:
        return _Compare(_is_zero, _wrap(left), _wrap(right))

    def neq(self, left: Any, right: Any) -> Expression:
        return _Compare(_is_nonzero, _wrap(left), _wrap(right))

    def lt(self, left: Any, right: Any) -> Expression:
        return _Compare(_is_negative, _wrap(left), _wrap(right))

    def lte(self, left: Any, right: Any) -> Expression:
        return _Compare(_is_not_positive, _wrap(left), _wrap(right))

    def gt(self, left: Any, right: Any) -> Expression:
        return _Compare(_is_positive, _wrap(left), _wrap(right))

    def gte(self, left: Any, right: Any) -> Expression:
        return _Compare(_is_not_negative, _wrap(left), _wrap(right))

    def and_(self, *operands: Any) -> Expression:
        return _And(tuple(_wrap(operand) for operand in operands))

    def or_(self, *operands: Any) -> Expression:
        return _Or(tuple(_wrap(operand) for operand in operands))

    def not_(self, operand: Any) -> Expression:
        return _Not(_wrap(operand))

    def add(self, left: Any, right: Any) -> Expression:
        return _Arithmetic("add", operator.add, _wrap(left), _wrap(right))

    def sub(self, left: Any, right: Any) -> Expression:
        return _Arithmetic("sub", operator.sub, _wrap(left), _wrap(right))

    def mul(self, left: Any, right: Any) -> Expression:
        return _Arithmetic("mul", operator.mul, _wrap(left), _wrap(right))

    def div(self, left: Any, right: Any) -> Expression:
        return _Arithmetic("div", _divide, _wrap(left), _wrap(right))

    def mod(self, left: Any, right: Any) -> Expression:
        return _Arithmetic("mod", _remainder, _wrap(left), _wrap(right))

    def neg(self, operand: Any) -> Expression:
        return _Negate(_wrap(operand))


def _divide(a: Any, b: Any) -> Any:
    if not isinstance(a, Int64):
        return _float_divide(a, b)
    # int64 division truncates toward zero, as in JS BigInt and Rust.
    quotient = abs(a) // abs(b)
    return quotient if (a >= 0) == (b >= 0) else -quotient


def _remainder(a: Any, b: Any) -> Any:
    # Sign follows the dividend (JS `%`), unlike Python's `%`.
    return a - b * _divide(a, b) if isinstance(a, Int64) else _float_remainder(a, b)


def _float_divide(a: float, b: float) -> float:
    if b != 0.0:
        return a / b
    # IEEE 754 (and JS) division by zero: NaN for 0/0 and NaN, else a signed infinity.
    if a == 0.0 or math.isnan(a):
        return math.nan
    return math.copysign(math.inf, a) * math.copysign(1.0, b)


def _float_remainder(a: float, b: float) -> float:
    if b == 0.0 or math.isinf(a) or math.isnan(a) or math.isnan(b):
        return math.nan
    return math.fmod(a, b)


def _is_zero(c: int) -> bool:
    return c == 0


def _is_nonzero(c: int) -> bool:
    return c != 0


def _is_negative(c: int) -> bool:
    return c < 0


def _is_not_positive(c: int) -> bool:
    return c <= 0


def _is_positive(c: int) -> bool:
    return c > 0


def _is_not_negative(c: int) -> bool:
    return c >= 0


def compile_filter(predicate: Callable[[FilterBuilder], Any]) -> Expression:
    """Run the user's filter function once and return its expression."""
    expression = predicate(FilterBuilder())
    return _wrap(expression)
