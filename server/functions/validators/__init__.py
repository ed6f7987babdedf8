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

from server.functions.validators.base import Validator
from server.functions.validators.compound import (
    ArrayValidator,
    ObjectValidator,
    OptionalValidator,
    RecordValidator,
    UnionValidator,
)
from server.functions.validators.display import show_value
from server.functions.validators.namespace import as_object_validator, v
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
