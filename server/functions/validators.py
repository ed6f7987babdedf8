"""Value validators for function arguments, return values and schemas.

App code builds them through the `v` namespace::

    v.object({"channel": v.string(), "limit": v.optional(v.float64())})

`validator.validate(value, path="")` returns the value as the function
should see it, or raises `ArgumentError` naming the path of the first bad
value, the value (as JSON) and what was expected, in Convex's wording.
Python values map to Convex types as everywhere in livesync: None, bool,
int and float (float64), `Int64` (int64), str, bytes, list, dict. The one
conversion: `v.int64()` takes a plain `int` from Python code and hands back
an `Int64`, so the value is stored and sent as an int64.

`validator.to_json()` describes a validator in Convex's JSON form, for
codegen and introspection:

    {"type": "null" | "number" | "bigint" | "boolean" | "string" | "bytes" | "any"}
    {"type": "id", "tableName": T}
    {"type": "literal", "value": V}
    {"type": "array", "value": <item>}
    {"type": "record", "keys": <key>, "values": {"fieldType": <v>, "optional": false}}
    {"type": "union", "value": [<member>, ...]}
    {"type": "object", "value": {field: {"fieldType": <v>, "optional": bool}}}
"""

from __future__ import annotations

import base64
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from protocol.values import MAX_SAFE_INTEGER, Int64, check_object_key, decode
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
    "RecordValidator",
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
    """A short rendering of a value as Convex JSON for error messages: 5 not
    5.0, an int64 as `5n` (the JS literal), bytes as `{"$bytes": ...}`."""
    parts: list[str] = []
    _show_into(parts, value, 0)
    text = "".join(parts)
    return text if len(text) <= _SHOW_LIMIT else text[: _SHOW_LIMIT - 3] + "..."


def _show_into(parts: list[str], value: Any, depth: int) -> None:
    if sum(map(len, parts)) > _SHOW_LIMIT or depth > 16:
        parts.append("...")  # the rest would be cut off anyway
    elif value is None or isinstance(value, (bool, str)):
        parts.append(json.dumps(value, ensure_ascii=False))
    elif isinstance(value, Int64):
        parts.append(f"{int(value)}n")
    elif isinstance(value, int):
        parts.append(str(value))
    elif isinstance(value, float):
        parts.append(_show_float(value))
    elif isinstance(value, bytes):
        parts.append(f'{{"$bytes":"{base64.b64encode(value).decode("ascii")}"}}')
    elif isinstance(value, (list, tuple)):
        parts.append("[")
        for index, item in enumerate(value):
            parts.append("," if index else "")
            _show_into(parts, item, depth + 1)
        parts.append("]")
    elif isinstance(value, Mapping):
        parts.append("{")
        for index, (key, item) in enumerate(value.items()):
            parts.append(("," if index else "") + json.dumps(str(key), ensure_ascii=False) + ":")
            _show_into(parts, item, depth + 1)
        parts.append("}")
    else:
        parts.append(repr(value))


def _show_float(value: float) -> str:
    # As JS prints a number: NaN and Infinity by name, and a whole number
    # without ".0", which is how the codec hands it to functions (an int).
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    return repr(decode(value))


def _mismatch(value: Any, path: str, validator: Validator) -> ArgumentError:
    return ArgumentError(
        f"Value does not match validator.{_path_line(path)}\n"
        f"Value: {show_value(value)}\nValidator: {validator!r}"
    )


def _path_line(path: str) -> str:
    return f"\nPath: {path}" if path else ""


class Validator:
    """Base of every validator: subclasses implement `_check` and `to_json`."""

    __slots__ = ()

    @property
    def is_optional(self) -> bool:
        return False

    def validate(self, value: Any, path: str = "") -> Any:
        """`value` as the function sees it; raises `ArgumentError` if it does
        not match."""
        return self._check(value, path)

    def matches(self, value: Any) -> bool:
        try:
            self._check(value, "")
        except ArgumentError:
            return False
        return True

    def _check(self, value: Any, path: str) -> Any:
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

    def _check(self, value: Any, path: str) -> Any:
        if not self._ok(value):
            raise _mismatch(value, path, self)
        return value


@dataclass(frozen=True, slots=True, repr=False)
class StringValidator(_Simple):
    def _name(self) -> str:
        return "string"

    def _ok(self, value: Any) -> bool:
        return isinstance(value, str)

    def to_json(self) -> dict[str, Any]:
        return {"type": "string"}


def _is_float64(value: Any) -> bool:
    """A float, or a plain int (a float64 that happens to be whole)."""
    return isinstance(value, float) or (
        type(value) is int and -MAX_SAFE_INTEGER <= value <= MAX_SAFE_INTEGER
    )


@dataclass(frozen=True, slots=True, repr=False)
class NumberValidator(_Simple):
    """Convex `number` (float64): a float or a plain int; never an `Int64`."""

    def _name(self) -> str:
        return "float64"

    def _ok(self, value: Any) -> bool:
        return _is_float64(value)

    def to_json(self) -> dict[str, Any]:
        return {"type": "number"}


@dataclass(frozen=True, slots=True, repr=False)
class Int64Validator(_Simple):
    """Convex `int64`: an `Int64`, or a plain int from Python code, which
    becomes an `Int64`."""

    def _name(self) -> str:
        return "int64"

    def _check(self, value: Any, path: str) -> Any:
        if isinstance(value, Int64):
            return value
        if type(value) is int and _INT64_MIN <= value <= _INT64_MAX:
            return Int64(value)
        raise _mismatch(value, path, self)

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

    def _check(self, value: Any, path: str) -> Any:
        if not id_matches_table(value, self.table):
            raise _mismatch(value, path, self)
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
        if _is_float64(expected):
            same = _is_float64(value) and value == expected
        else:
            same = type(value) is type(expected) and value == expected
        if not same:
            raise _mismatch(value, path, self)
        return value

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

    def _check(self, value: Any, path: str) -> Any:
        return self.inner._check(value, path)

    def to_json(self) -> dict[str, Any]:
        return self.inner.to_json()


@dataclass(frozen=True, slots=True, repr=False)
class ArrayValidator(Validator):
    item: Validator

    def __repr__(self) -> str:
        return f"v.array({self.item!r})"

    def _check(self, value: Any, path: str) -> Any:
        if not isinstance(value, list):
            raise _mismatch(value, path, self)
        checked = [self.item._check(item, f"{path}[{index}]") for index, item in enumerate(value)]
        return value if _same_items(checked, value) else checked

    def to_json(self) -> dict[str, Any]:
        return {"type": "array", "value": self.item.to_json()}


def _same_items(checked: list[Any], original: list[Any]) -> bool:
    # Hand back the caller's own object when nothing was converted.
    return all(a is b for a, b in zip(checked, original, strict=True))


@dataclass(frozen=True, slots=True, repr=False)
class ObjectValidator(Validator):
    fields: Mapping[str, Validator]

    def __repr__(self) -> str:
        inner = ", ".join(f"{name}: {field!r}" for name, field in self.fields.items())
        return f"v.object({{{inner}}})"

    def _check(self, value: Any, path: str) -> Any:
        if not isinstance(value, dict):
            raise _mismatch(value, path, self)
        converted: dict[str, Any] | None = None
        for name, field in self.fields.items():
            if name in value:
                item = value[name]
                checked = field._check(item, f"{path}.{name}")
                if checked is not item:
                    converted = converted if converted is not None else dict(value)
                    converted[name] = checked
            elif not field.is_optional:
                raise ArgumentError(
                    f"Object is missing the required field `{name}`. Consider wrapping the "
                    f"field validator in `v.optional(...)` if this is expected.{_path_line(path)}"
                    f"\n\nObject: {show_value(value)}\nValidator: {self!r}"
                )
        for name in value:
            if name not in self.fields:
                raise ArgumentError(
                    f"Object contains extra field `{name}` that is not in the validator."
                    f"{_path_line(path)}\n\nObject: {show_value(value)}\nValidator: {self!r}"
                )
        return value if converted is None else converted

    def to_json(self) -> dict[str, Any]:
        return {
            "type": "object",
            "value": {
                name: {"fieldType": field.to_json(), "optional": field.is_optional}
                for name, field in self.fields.items()
            },
        }


@dataclass(frozen=True, slots=True, repr=False)
class RecordValidator(Validator):
    """An object used as a map: every key matches `keys` (a string, an id or
    a union of string literals), every value matches `values`."""

    keys: Validator
    values: Validator

    def __repr__(self) -> str:
        return f"v.record({self.keys!r}, {self.values!r})"

    def _check(self, value: Any, path: str) -> Any:
        if not isinstance(value, dict):
            raise _mismatch(value, path, self)
        converted: dict[str, Any] | None = None
        for key, item in value.items():
            problem = check_object_key(key)
            if problem is not None:
                raise _mismatch(value, path, self)
            self.keys._check(key, f"{path}.{key}")
            checked = self.values._check(item, f"{path}.{key}")
            if checked is not item:
                converted = converted if converted is not None else dict(value)
                converted[key] = checked
        return value if converted is None else converted

    def to_json(self) -> dict[str, Any]:
        return {
            "type": "record",
            "keys": self.keys.to_json(),
            "values": {"fieldType": self.values.to_json(), "optional": False},
        }


@dataclass(frozen=True, slots=True, repr=False)
class UnionValidator(Validator):
    members: tuple[Validator, ...]

    def __repr__(self) -> str:
        return f"v.union({', '.join(repr(member) for member in self.members)})"

    def _check(self, value: Any, path: str) -> Any:
        for member in self.members:
            try:
                return member._check(value, path)
            except ArgumentError:
                continue
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
    def record(keys: Validator, values: Validator) -> Validator:
        if not _is_key_validator(_require(keys)):
            raise TypeError(
                "v.record() keys must be v.string(), v.id(table) or a union of string "
                f"literals, not {keys!r}"
            )
        return RecordValidator(keys, _require(values))

    @staticmethod
    def union(*members: Validator) -> Validator:
        return UnionValidator(tuple(_require(member) for member in members))


def _is_key_validator(validator: Validator) -> bool:
    # Object keys are strings, so only string-typed validators can describe them.
    if isinstance(validator, (StringValidator, IdValidator)):
        return True
    if isinstance(validator, LiteralValidator):
        return isinstance(validator.value, str)
    if isinstance(validator, UnionValidator):
        return all(_is_key_validator(member) for member in validator.members)
    return False


def _require(value: Any) -> Validator:
    if not isinstance(value, Validator):
        raise TypeError(f"expected a validator such as v.string(), got {value!r}")
    return value


v = _Namespace()
"""`v.string()`, `v.object({...})`, ...: build validators."""
