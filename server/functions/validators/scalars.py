"""Validators of one value with no parts: strings, numbers, ids, literals, ..."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from protocol.values import Int64
from server.functions.validators.base import SimpleValidator, Validator, is_float64, mismatch
from server.functions.validators.display import show_value
from server.store.ids import id_matches_table

__all__ = [
    "AnyValidator",
    "BooleanValidator",
    "BytesValidator",
    "IdValidator",
    "Int64Validator",
    "LiteralValidator",
    "NullValidator",
    "NumberValidator",
    "StringValidator",
]

_INT64_MIN = -(2**63)
_INT64_MAX = 2**63 - 1


@dataclass(frozen=True, slots=True, repr=False)
class StringValidator(SimpleValidator):
    def _name(self) -> str:
        return "string"

    def _ok(self, value: Any) -> bool:
        return isinstance(value, str)

    def to_json(self) -> dict[str, Any]:
        return {"type": "string"}


@dataclass(frozen=True, slots=True, repr=False)
class NumberValidator(SimpleValidator):
    """Convex `number` (float64): a float or a plain int; never an `Int64`."""

    def _name(self) -> str:
        return "float64"

    def _ok(self, value: Any) -> bool:
        return is_float64(value)

    def to_json(self) -> dict[str, Any]:
        return {"type": "number"}


@dataclass(frozen=True, slots=True, repr=False)
class Int64Validator(SimpleValidator):
    """Convex `int64`: an `Int64`, or a plain int from Python code, which
    becomes an `Int64`."""

    def _name(self) -> str:
        return "int64"

    def _check(self, value: Any, path: str) -> Any:
        if isinstance(value, Int64):
            return value
        if type(value) is int and _INT64_MIN <= value <= _INT64_MAX:
            return Int64(value)
        raise mismatch(value, path, self)

    def to_json(self) -> dict[str, Any]:
        return {"type": "bigint"}


@dataclass(frozen=True, slots=True, repr=False)
class BooleanValidator(SimpleValidator):
    def _name(self) -> str:
        return "boolean"

    def _ok(self, value: Any) -> bool:
        return isinstance(value, bool)

    def to_json(self) -> dict[str, Any]:
        return {"type": "boolean"}


@dataclass(frozen=True, slots=True, repr=False)
class NullValidator(SimpleValidator):
    def _name(self) -> str:
        return "null"

    def _ok(self, value: Any) -> bool:
        return value is None

    def to_json(self) -> dict[str, Any]:
        return {"type": "null"}


@dataclass(frozen=True, slots=True, repr=False)
class BytesValidator(SimpleValidator):
    def _name(self) -> str:
        return "bytes"

    def _ok(self, value: Any) -> bool:
        return isinstance(value, bytes)

    def to_json(self) -> dict[str, Any]:
        return {"type": "bytes"}


@dataclass(frozen=True, slots=True, repr=False)
class AnyValidator(SimpleValidator):
    def _name(self) -> str:
        return "any"

    def _ok(self, value: Any) -> bool:
        return True

    def to_json(self) -> dict[str, Any]:
        return {"type": "any"}


@dataclass(frozen=True, slots=True, repr=False)
class IdValidator(Validator):
    table: str

    def __repr__(self) -> str:
        return f'v.id("{self.table}")'

    def _check(self, value: Any, path: str) -> Any:
        if not id_matches_table(value, self.table):
            raise mismatch(value, path, self)
        return value

    def to_json(self) -> dict[str, Any]:
        return {"type": "id", "tableName": self.table}


@dataclass(frozen=True, slots=True, repr=False)
class LiteralValidator(Validator):
    value: str | int | float | bool | None

    def __repr__(self) -> str:
        return f"v.literal({show_value(self.value)})"

    def _check(self, value: Any, path: str) -> Any:
        # By Convex type first: True == 1 == Int64(1) in Python, but they are
        # three Convex values; 1 and 1.0 are one float64.
        expected = self.value
        if is_float64(expected):
            same = is_float64(value) and value == expected
        else:
            same = type(value) is type(expected) and value == expected
        if not same:
            raise mismatch(value, path, self)
        return value

    def to_json(self) -> dict[str, Any]:
        return {"type": "literal", "value": self.value}
