"""Order-preserving byte encoding of Convex values, for index keys.

Comparing two encodings as byte strings gives the Convex order of the values:

    missing field < null < int64 < float64 < boolean < string < bytes < array < object

A plain `int` is a float64 and encodes as the float it equals, so 5 and
5.0 are one key; only `Int64` takes the int64 tag.

Within a type, the natural order: integers numerically, floats by IEEE
total order (-0.0 < 0.0, NaN last), strings by their UTF-8 bytes, bytes
lexicographically, arrays and objects element by element (objects as their
`(field, value)` pairs sorted by field name).

Every encoding starts with a one-byte type tag and is *prefix-free*: no
value's encoding is a prefix of another's. So the encoding of a tuple is the
plain concatenation of its values' encodings, and all tuples starting with
given values share exactly that byte prefix, which makes "every key whose
first fields equal X" the contiguous range `[enc(X), prefix_end(enc(X)))`.

Strings and bytes escape 0x00 as 0x00 0x01 and end with 0x00 0x00; an escaped
body never contains 0x00 0x00, so the terminator is unambiguous, and a shorter
string sorts before any longer string it is a prefix of.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Mapping, Sequence
from typing import Any, Final

from protocol.values import MAX_SAFE_INTEGER, Int64

__all__ = [
    "MISSING_FIELD",
    "MissingField",
    "doc_field_values",
    "encode_tuple",
    "encode_value",
    "index_key",
    "prefix_end",
    "successor",
]


class MissingField:
    """The type of `MISSING_FIELD`: a document lacks the indexed field."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "MISSING_FIELD"

    def __reduce__(self) -> str:
        # Pickling and copying give back the one sentinel.
        return "MISSING_FIELD"


MISSING_FIELD: Final = MissingField()
"""Stands for an absent field (`undefined`); sorts before every value."""

# Type tags, in Convex order. 0x00 is kept free: it ends arrays and objects.
_MISSING = b"\x01"
_NULL = b"\x02"
_INT = b"\x03"
_FLOAT = b"\x04"
_FALSE = b"\x05\x00"
_TRUE = b"\x05\x01"
_STRING = b"\x06"
_BYTES = b"\x07"
_ARRAY = b"\x08"
_OBJECT = b"\x09"
_FIELD = b"\x01"  # precedes each field of an object, so {} sorts first
_END = b"\x00"
_TERMINATOR = b"\x00\x00"

_U64 = struct.Struct(">Q")
_F64 = struct.Struct(">d")
_INT64_MIN = -(2**63)
_INT64_MAX = 2**63 - 1
_SIGN_BIT = 1 << 63
_ALL_BITS = (1 << 64) - 1
_CANONICAL_NAN: int = _U64.unpack(_F64.pack(math.nan))[0] & ~_SIGN_BIT


def encode_value(value: Any) -> bytes:
    """Encode one Convex value (or `MISSING_FIELD`).

    Raises:
        TypeError: the value has no Convex type.
        ValueError: an int outside int64, or a string that is not valid Unicode.
    """
    out = bytearray()
    _encode_into(out, value)
    return bytes(out)


def encode_tuple(values: Sequence[Any]) -> bytes:
    """Encode a tuple of values: the concatenation of their encodings."""
    out = bytearray()
    for value in values:
        _encode_into(out, value)
    return bytes(out)


def index_key(values: Sequence[Any], doc_id: str) -> bytes:
    """The key of a document in an index: its field values, then its id."""
    out = bytearray()
    for value in values:
        _encode_into(out, value)
    _encode_into(out, doc_id)
    return bytes(out)


def prefix_end(prefix: bytes) -> bytes | None:
    """The smallest byte string greater than every string starting with `prefix`.

    None when there is none (the prefix is empty or all 0xFF), meaning the
    range is unbounded above.
    """
    stripped = prefix.rstrip(b"\xff")
    if not stripped:
        return None
    return stripped[:-1] + bytes([stripped[-1] + 1])


def successor(key: bytes) -> bytes:
    """The smallest byte string greater than `key`: turns an inclusive end
    into an exclusive one."""
    return key + b"\x00"


def doc_field_values(doc: Mapping[str, Any], fields: Sequence[str]) -> tuple[Any, ...]:
    """The values of dotted field paths (`"a.b"`) in `doc`, with
    `MISSING_FIELD` where a path does not lead to a value."""
    return tuple(_field_value(doc, path) for path in fields)


def _field_value(doc: Mapping[str, Any], path: str) -> Any:
    current: Any = doc
    for part in path.split("."):
        if not isinstance(current, Mapping) or part not in current:
            return MISSING_FIELD
        current = current[part]
    return current


def _encode_into(out: bytearray, value: Any) -> None:
    # bool before int: bool is an int subclass but a distinct Convex type.
    if value is None:
        out += _NULL
    elif value is True:
        out += _TRUE
    elif value is False:
        out += _FALSE
    elif isinstance(value, str):
        out += _STRING
        _escape_into(out, value.encode("utf-8"))
    elif isinstance(value, float):
        out += _FLOAT
        out += _U64.pack(_float_bits(value))
    elif isinstance(value, Int64):
        out += _INT
        out += _U64.pack(_int_bits(value))
    elif isinstance(value, int):
        if not -MAX_SAFE_INTEGER <= value <= MAX_SAFE_INTEGER:
            raise ValueError(f"int {value} cannot be represented exactly as a float64")
        out += _FLOAT
        out += _U64.pack(_float_bits(float(value)))
    elif isinstance(value, (bytes, bytearray, memoryview)):
        out += _BYTES
        _escape_into(out, bytes(value))
    elif isinstance(value, (list, tuple)):
        out += _ARRAY
        for item in value:
            _encode_into(out, item)
        out += _END
    elif isinstance(value, Mapping):
        _encode_object_into(out, value)
    elif value is MISSING_FIELD:
        out += _MISSING
    else:
        raise TypeError(f"{type(value).__name__} is not a Convex value")


def _encode_object_into(out: bytearray, obj: Mapping[str, Any]) -> None:
    out += _OBJECT
    # Python orders str by code point, which is the order of UTF-8 bytes.
    for key in sorted(obj):
        if not isinstance(key, str):
            raise TypeError(f"object key {key!r} is not a string")
        out += _FIELD
        _escape_into(out, key.encode("utf-8"))
        _encode_into(out, obj[key])
    out += _END


def _escape_into(out: bytearray, raw: bytes) -> None:
    out += raw.replace(b"\x00", b"\x00\x01")
    out += _TERMINATOR


def _int_bits(value: int) -> int:
    if not _INT64_MIN <= value <= _INT64_MAX:
        raise ValueError(f"int {value} is outside the signed 64-bit range")
    # Offset binary: flipping the sign bit makes unsigned order match signed order.
    return (value + _SIGN_BIT) & _ALL_BITS


def _float_bits(value: float) -> int:
    if math.isnan(value):
        # One NaN, positive, so every NaN sorts after +inf.
        return _CANONICAL_NAN | _SIGN_BIT
    bits: int = _U64.unpack(_F64.pack(value))[0]
    # IEEE total order: negatives reversed (all bits flipped), positives above them.
    if bits & _SIGN_BIT:
        return bits ^ _ALL_BITS
    return bits | _SIGN_BIT
