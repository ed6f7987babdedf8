"""Reading documents written before plain ints became float64.

Until the number mapping changed, livesync stored every Python `int` as a
Convex int64 (`{"$integer": ...}`), so a `count` of 5 was a JS `bigint`.
Now a plain int is a float64 and only `Int64` is an int64. Opening a store
written the old way rewrites each stored int64 as the float64 it equals,
unless the schema says int64 at that place (a `v.int64()` field, or one
that would refuse a float64), and keeps any int64 a float64 cannot hold
exactly. `convert_legacy_numbers` gives the per-document rule the store runs.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from protocol.values import MAX_SAFE_INTEGER, Int64
from server.functions.schema import Schema
from server.functions.validators import (
    ArrayValidator,
    ObjectValidator,
    OptionalValidator,
    RecordValidator,
    Validator,
)

__all__ = ["convert_legacy_numbers"]


def convert_legacy_numbers(
    schema: Schema | None,
) -> Callable[[str, Mapping[str, Any]], Mapping[str, Any]]:
    """The rule for one stored document of a table: the document with its
    legacy int64s turned into float64s where the schema allows."""

    def convert(table: str, doc: Mapping[str, Any]) -> Mapping[str, Any]:
        definition = schema.tables.get(table) if schema is not None else None
        validator = definition.document if definition is not None else None
        converted: Mapping[str, Any] = _convert(doc, validator)
        return converted

    return convert


def _convert(value: Any, validator: Validator | None) -> Any:
    if isinstance(validator, OptionalValidator):
        validator = validator.inner
    if isinstance(value, Int64):
        keep = abs(value) > MAX_SAFE_INTEGER or (
            validator is not None and not validator.matches(float(value))
        )
        return value if keep else int(value)
    if isinstance(value, dict):
        return {key: _convert(item, _field(validator, key)) for key, item in value.items()}
    if isinstance(value, list):
        item_validator = validator.item if isinstance(validator, ArrayValidator) else None
        return [_convert(item, item_validator) for item in value]
    return value


def _field(validator: Validator | None, key: str) -> Validator | None:
    if isinstance(validator, ObjectValidator):
        return validator.fields.get(key)
    if isinstance(validator, RecordValidator):
        return validator.values
    return None  # no schema, v.any() or a union: nothing says int64 here
