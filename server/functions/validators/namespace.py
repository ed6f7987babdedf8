"""`v`, the namespace app code builds validators with."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from server.functions.validators.base import Validator
from server.functions.validators.compound import (
    ArrayValidator,
    ObjectValidator,
    OptionalValidator,
    RecordValidator,
    UnionValidator,
)
from server.functions.validators.scalars import (
    AnyValidator,
    BooleanValidator,
    BytesValidator,
    IdValidator,
    Int64Validator,
    LiteralValidator,
    NullValidator,
    NumberValidator,
    StringValidator,
)

__all__ = [
    "as_object_validator",
    "v",
]


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
