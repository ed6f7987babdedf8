"""Value validators for function arguments, return values and schemas.

App code builds them through the `v` namespace::

    v.object({"channel": v.string(), "limit": v.optional(v.float64())})

`validator.validate(value, path="")` raises `ArgumentError` naming the path
of the first bad value, the value and what was expected. Python values map
to Convex types as everywhere in livesync: None, bool, int (int64), float
(float64), str, bytes, list, dict.

`validator.to_json()` describes a validator in Convex's JSON form, for
codegen and introspection:

    {"type": "null" | "number" | "bigint" | "boolean" | "string" | "bytes" | "any"}
    {"type": "id", "tableName": T}
    {"type": "literal", "value": V}
    {"type": "array", "value": <item>}
    {"type": "union", "value": [<member>, ...]}
    {"type": "object", "value": {field: {"fieldType": <v>, "optional": bool}}}
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from server.errors import ArgumentError
from server.store.ids import id_matches_table

__all__ = [
    "AnyValidator",
    "ArrayValidator",
    "BooleanValidator",
    "BytesValidator",
    "IdValidator",
    "Int64Validator",
    "LiteralValidator",
    "NullValidator",
    "NumberValidator",
    "ObjectValidator",
    "OptionalValidator",
    "StringValidator",
    "UnionValidator",
    "Validator",
    "as_object_validator",
    "show_value",
    "v",
]

_INT64_MIN = -(2**63)
_INT64_MAX = 2**63 - 1
_SHOW_LIMIT = 120


def show_value(value: Any) -> str:
    """A short, JSON-like rendering of a value for error messages."""
    try:
        text = json.dumps(value, default=_show_default, allow_nan=True)
    except (TypeError, ValueError):
        text = repr(value)
    if isinstance(value, float) and math.isfinite(value) and "." not in text and "e" not in text:
        text += ".0"  # keep floats recognisable as float64 (5.0, not 5)
    return text if len(text) <= _SHOW_LIMIT else text[: _SHOW_LIMIT - 3] + "..."


def _show_default(value: Any) -> Any:
    if isinstance(value, bytes):
        return f"<{len(value)} bytes>"
    if isinstance(value, tuple):
        return list(value)
    raise TypeError(type(value).__name__)


def _mismatch(value: Any, path: str, validator: Validator) -> ArgumentError:
    return ArgumentError(
        "Value does not match validator. "
        f"Path: {path or '(root)'}. Value: {show_value(value)}. Validator: {validator!r}"
    )


class Validator:
    """Base of every validator: subclasses implement `_check` and `to_json`."""

    __slots__ = ()

    @property
    def is_optional(self) -> bool:
        return False

    def validate(self, value: Any, path: str = "") -> None:
        """Raise `ArgumentError` if `value` does not match."""
        self._check(value, path)

    def matches(self, value: Any) -> bool:
        try:
            self._check(value, "")
        except ArgumentError:
            return False
        return True

    def _check(self, value: Any, path: str) -> None:
        raise NotImplementedError

    def to_json(self) -> dict[str, Any]:
        raise NotImplementedError


@dataclass(frozen=True, slots=True, repr=False)
class _Simple(Validator):
    """A validator that is one isinstance-style test."""

    def __repr__(self) -> str:
        return f"v.{self._name()}()"

    def _name(self) -> str:
        raise NotImplementedError

    def _ok(self, value: Any) -> bool:
        raise NotImplementedError

    def _check(self, value: Any, path: str) -> None:
        if not self._ok(value):
            raise _mismatch(value, path, self)


@dataclass(frozen=True, slots=True, repr=False)
class StringValidator(_Simple):
    def _name(self) -> str:
        return "string"

    def _ok(self, value: Any) -> bool:
        return isinstance(value, str)

    def to_json(self) -> dict[str, Any]:
        return {"type": "string"}


@dataclass(frozen=True, slots=True, repr=False)
class NumberValidator(_Simple):
    """Convex `number` is float64: a Python float. Clients always send
    numbers as floats, so an int here means an int64 and is refused."""

    def _name(self) -> str:
        return "number"

    def _ok(self, value: Any) -> bool:
        return isinstance(value, float)

    def to_json(self) -> dict[str, Any]:
        return {"type": "number"}


@dataclass(frozen=True, slots=True, repr=False)
class Int64Validator(_Simple):
    def _name(self) -> str:
        return "int64"

    def _ok(self, value: Any) -> bool:
        return (
            isinstance(value, int)
            and not isinstance(value, bool)
            and _INT64_MIN <= value <= _INT64_MAX
        )

    def to_json(self) -> dict[str, Any]:
        return {"type": "bigint"}


@dataclass(frozen=True, slots=True, repr=False)
class BooleanValidator(_Simple):
    def _name(self) -> str:
        return "boolean"

    def _ok(self, value: Any) -> bool:
        return isinstance(value, bool)

    def to_json(self) -> dict[str, Any]:
        return {"type": "boolean"}


@dataclass(frozen=True, slots=True, repr=False)
class NullValidator(_Simple):
    def _name(self) -> str:
        return "null"

    def _ok(self, value: Any) -> bool:
        return value is None

    def to_json(self) -> dict[str, Any]:
        return {"type": "null"}


@dataclass(frozen=True, slots=True, repr=False)
class BytesValidator(_Simple):
    def _name(self) -> str:
        return "bytes"

    def _ok(self, value: Any) -> bool:
        return isinstance(value, bytes)

    def to_json(self) -> dict[str, Any]:
        return {"type": "bytes"}


@dataclass(frozen=True, slots=True, repr=False)
class AnyValidator(_Simple):
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

    def _check(self, value: Any, path: str) -> None:
        if not id_matches_table(value, self.table):
            raise _mismatch(value, path, self)

    def to_json(self) -> dict[str, Any]:
        return {"type": "id", "tableName": self.table}


@dataclass(frozen=True, slots=True, repr=False)
class LiteralValidator(Validator):
    value: str | int | float | bool | None

    def __repr__(self) -> str:
        return f"v.literal({show_value(self.value)})"

    def _check(self, value: Any, path: str) -> None:
        # Type first: 1 == 1.0 == True in Python, but they are three Convex values.
        if type(value) is not type(self.value) or value != self.value:
            raise _mismatch(value, path, self)

    def to_json(self) -> dict[str, Any]:
        return {"type": "literal", "value": self.value}


@dataclass(frozen=True, slots=True, repr=False)
class OptionalValidator(Validator):
    """Marks an object field that may be absent; a present value must match."""

    inner: Validator

    @property
    def is_optional(self) -> bool:
        return True

    def __repr__(self) -> str:
        return f"v.optional({self.inner!r})"

    def _check(self, value: Any, path: str) -> None:
        self.inner._check(value, path)

    def to_json(self) -> dict[str, Any]:
        return self.inner.to_json()


@dataclass(frozen=True, slots=True, repr=False)
class ArrayValidator(Validator):
    item: Validator

    def __repr__(self) -> str:
        return f"v.array({self.item!r})"

    def _check(self, value: Any, path: str) -> None:
        if not isinstance(value, list):
            raise _mismatch(value, path, self)
        for index, item in enumerate(value):
            self.item._check(item, f"{path}[{index}]")

    def to_json(self) -> dict[str, Any]:
        return {"type": "array", "value": self.item.to_json()}


@dataclass(frozen=True, slots=True, repr=False)
class ObjectValidator(Validator):
    fields: Mapping[str, Validator]

    def __repr__(self) -> str:
        inner = ", ".join(f'"{name}": {field!r}' for name, field in self.fields.items())
        return f"v.object({{{inner}}})"

    def _check(self, value: Any, path: str) -> None:
        if not isinstance(value, dict):
            raise _mismatch(value, path, self)
        for name, field in self.fields.items():
            if name in value:
                field._check(value[name], f"{path}.{name}")
            elif not field.is_optional:
                raise ArgumentError(
                    f"Object is missing the required field `{name}`. "
                    f"Path: {path or '(root)'}. Value: {show_value(value)}. Validator: {self!r}"
                )
        for name in value:
            if name not in self.fields:
                raise ArgumentError(
                    f"Object contains extra field `{name}` that is not in the validator. "
                    f"Path: {path or '(root)'}. Value: {show_value(value)}. Validator: {self!r}"
                )

    def to_json(self) -> dict[str, Any]:
        return {
            "type": "object",
            "value": {
                name: {"fieldType": field.to_json(), "optional": field.is_optional}
                for name, field in self.fields.items()
            },
        }


@dataclass(frozen=True, slots=True, repr=False)
class UnionValidator(Validator):
    members: tuple[Validator, ...]

    def __repr__(self) -> str:
        return f"v.union({', '.join(repr(member) for member in self.members)})"

    def _check(self, value: Any, path: str) -> None:
        if not any(member.matches(value) for member in self.members):
            raise _mismatch(value, path, self)

    def to_json(self) -> dict[str, Any]:
        return {"type": "union", "value": [member.to_json() for member in self.members]}


def as_object_validator(spec: Mapping[str, Validator] | Validator) -> Validator:
    """Accept `args={...}` as shorthand for `v.object({...})`."""
    if isinstance(spec, Validator):
        return spec
    return _Namespace.object(spec)


class _Namespace:
    """The `v` namespace app code builds validators with."""

    __slots__ = ()

    @staticmethod
    def string() -> Validator:
        return StringValidator()

    @staticmethod
    def number() -> Validator:
        return NumberValidator()

    float64 = number

    @staticmethod
    def int64() -> Validator:
        return Int64Validator()

    @staticmethod
    def boolean() -> Validator:
        return BooleanValidator()

    @staticmethod
    def null() -> Validator:
        return NullValidator()

    @staticmethod
    def bytes() -> Validator:
        return BytesValidator()

    @staticmethod
    def any() -> Validator:
        return AnyValidator()

    @staticmethod
    def id(table: str) -> Validator:
        return IdValidator(table)

    @staticmethod
    def literal(value: str | int | float | bool | None) -> Validator:
        if not isinstance(value, (str, int, float, bool)) and value is not None:
            raise TypeError(f"v.literal() takes a string, number or boolean, not {value!r}")
        return LiteralValidator(value)

    @staticmethod
    def optional(inner: Validator) -> Validator:
        return OptionalValidator(_require(inner))

    @staticmethod
    def array(item: Validator) -> Validator:
        return ArrayValidator(_require(item))

    @staticmethod
    def object(fields: Mapping[str, Validator]) -> Validator:
        checked = {name: _require(field) for name, field in fields.items()}
        return ObjectValidator(checked)

    @staticmethod
    def union(*members: Validator) -> Validator:
        return UnionValidator(tuple(_require(member) for member in members))


def _require(value: Any) -> Validator:
    if not isinstance(value, Validator):
        raise TypeError(f"expected a validator such as v.string(), got {value!r}")
    return value


v = _Namespace()
"""`v.string()`, `v.object({...})`, ...: build validators."""
