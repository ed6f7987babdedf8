"""The Convex value codec (convex-protocol.md §10).

Python mapping, which round-trips through ``encode``/``decode``:

    ===========================  ==========================================
    Python                       Convex JSON
    ===========================  ==========================================
    ``None``                     ``null``
    ``bool``                     ``true`` / ``false``
    ``int`` (|n| <= 2**53)       JSON number (float64)
    ``float`` (finite, not -0)   JSON number (float64)
    ``float`` NaN, ±Inf, -0.0    ``{"$float": b64(8-byte LE IEEE 754)}``
    ``Int64``                    ``{"$integer": b64(8-byte LE two's complement)}``
    ``str``                      string
    ``bytes``                    ``{"$bytes": standard base64}``
    ``list`` / ``tuple``         array (always decodes to ``list``)
    ``dict[str, ...]``           object
    ===========================  ==========================================

A plain ``int`` is a float64, as in the official Python client, so
``len(rows)`` reaches JS as a ``number``; one that float64 cannot hold
exactly is refused rather than rounded. ``Int64`` (an ``int`` subclass) is
the int64 type, a JS ``bigint``. A JSON number is a float64 either way (the
JS client writes ``5`` for 5.0, the Python client ``5.0``); it decodes to
``int`` when it is integral and within 2**53 (so ``count + 1`` and
``range(n)`` work), else to ``float``. -0.0 stays a ``float``.

Object keys must be ASCII 32-126, at most 1024 characters, and must not start
with ``$``. The JS client throws on any other key while applying a Transition,
which kills a Node process, so the check runs on encode as well as decode.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import struct
from dataclasses import dataclass
from typing import TypeAlias

from protocol.errors import ValueDecodeError, ValueEncodeError

__all__ = [
    "MAX_DEPTH",
    "MAX_KEY_LENGTH",
    "MAX_SAFE_INTEGER",
    "Int64",
    "JSONValue",
    "RawJSON",
    "Value",
    "canonical_json",
    "check_object_key",
    "decode",
    "decode_args",
    "dumps",
    "encode",
    "encode_args",
    "json_kind",
]

Value: TypeAlias = (
    None
    | bool
    | int  # Int64 included
    | float
    | str
    | bytes
    | list["Value"]
    | tuple["Value", ...]
    | dict[str, "Value"]
)
"""A Python value that has a Convex encoding."""

JSONValue: TypeAlias = None | bool | int | float | str | list["JSONValue"] | dict[str, "JSONValue"]
"""Plain JSON as ``json.loads`` produces it."""

MAX_KEY_LENGTH = 1024
"""Longest object key the JS client accepts."""

MAX_DEPTH = 64
"""Deepest nesting accepted; guards the recursion against hostile input and cycles."""

MAX_SAFE_INTEGER = 2**53
"""Largest magnitude up to which every ``int`` is exactly a float64."""

_INT64_MIN = -(2**63)
_INT64_MAX = 2**63 - 1
_DOUBLE = struct.Struct("<d")


class Int64(int):
    """A Convex int64 (a JS ``bigint``): ``{"$integer": ...}`` on the wire.

    A plain ``int`` is a float64; wrap a value in ``Int64`` to send or store a
    64-bit integer. Arithmetic gives plain ``int`` back, as for any ``int``
    subclass: wrap the result again to keep it an int64.

    Raises:
        ValueError: the value is outside the signed 64-bit range.
    """

    __slots__ = ()

    def __new__(cls, value: object = 0) -> Int64:
        if isinstance(value, float) and not value.is_integer():
            raise ValueError(f"Int64 needs a whole number, got {value!r}")
        number = super().__new__(cls, value)  # type: ignore[call-overload]
        if not _INT64_MIN <= number <= _INT64_MAX:
            raise ValueError(f"{int(number)} is outside the signed 64-bit range of Int64")
        return number  # type: ignore[no-any-return]

    def __repr__(self) -> str:
        return f"Int64({int(self)})"


@dataclass(frozen=True, slots=True)
class RawJSON:
    """JSON text serialized once and spliced verbatim into outgoing messages.

    The server serializes a query result once and sends it to every socket
    subscribed to it; this wrapper lets the message serializers skip the
    re-encoding. The text must be valid, NaN-free JSON.
    """

    text: str


def check_object_key(key: object) -> str | None:
    """Return why ``key`` is not a legal Convex object key, or None if it is."""
    if not isinstance(key, str):
        return f"object key {key!r} is not a string"
    if len(key) > MAX_KEY_LENGTH:
        return f"object key of {len(key)} characters exceeds {MAX_KEY_LENGTH}"
    if key.startswith("$"):
        return f"object key {key!r} starts with '$', which is reserved"
    if not key.isascii() or not key.isprintable():
        return f"object key {key!r} has characters outside ASCII 32-126"
    return None


# -- encode ------------------------------------------------------------------


def encode(value: Value) -> JSONValue:
    """Turn a Python value into Convex-encoded JSON.

    Raises:
        ValueEncodeError: the value (or something inside it) has no encoding.
    """
    return _encode(value, 0)


def _encode(value: object, depth: int) -> JSONValue:
    # bool before int: bool is an int subclass but a distinct Convex type.
    if value is None or isinstance(value, (str, bool)):
        return value
    if isinstance(value, float):
        return _encode_float(value)
    if isinstance(value, int):
        if type(value) is int and -MAX_SAFE_INTEGER <= value <= MAX_SAFE_INTEGER:
            return value
        return _encode_int(value)
    if depth >= MAX_DEPTH:
        raise ValueEncodeError(f"value is nested deeper than {MAX_DEPTH} levels")
    if isinstance(value, dict):
        return _encode_object(value, depth + 1)
    if isinstance(value, (list, tuple)):
        return _encode_array(value, depth + 1)
    if isinstance(value, bytes):
        return {"$bytes": base64.b64encode(value).decode("ascii")}
    raise ValueEncodeError(f"{type(value).__name__} has no Convex encoding")


def _encode_float(value: float) -> JSONValue:
    if math.isfinite(value) and (value != 0.0 or math.copysign(1.0, value) > 0):
        return value
    return {"$float": base64.b64encode(_DOUBLE.pack(value)).decode("ascii")}


def _encode_int(value: int) -> JSONValue:
    if not isinstance(value, Int64):
        # Rounding it would change the number silently.
        raise ValueEncodeError(
            f"int {value} cannot be represented exactly as a float64 (|n| > 2**53); "
            f"use Int64({value}) to send a 64-bit integer"
        )
    raw = value.to_bytes(8, "little", signed=True)
    return {"$integer": base64.b64encode(raw).decode("ascii")}


def _encode_array(items: list[object] | tuple[object, ...], depth: int) -> JSONValue:
    out: list[JSONValue] = []
    for index, item in enumerate(items):
        try:
            out.append(_encode(item, depth))
        except ValueEncodeError as exc:
            raise ValueEncodeError(exc.reason, (index, *exc.path)) from None
    return out


def _encode_object(obj: dict[object, object], depth: int) -> JSONValue:
    out: dict[str, JSONValue] = {}
    for key, item in obj.items():
        problem = check_object_key(key)
        if problem is not None:
            raise ValueEncodeError(problem)
        assert isinstance(key, str)  # narrowed by check_object_key
        try:
            out[key] = _encode(item, depth)
        except ValueEncodeError as exc:
            raise ValueEncodeError(exc.reason, (key, *exc.path)) from None
    return out


def encode_args(args: dict[str, Value]) -> list[JSONValue]:
    """Encode function arguments as the wire wants them: ``[{...}]``."""
    if not isinstance(args, dict):
        raise ValueEncodeError(f"function args must be a dict, got {type(args).__name__}")
    return [_encode(args, 0)]


# -- decode ------------------------------------------------------------------


def decode(json_value: JSONValue) -> Value:
    """Turn Convex-encoded JSON into a Python value.

    Raises:
        ValueDecodeError: the JSON is not a valid Convex value.
    """
    return _decode(json_value, 0)


def _decode(value: object, depth: int) -> Value:
    if value is None or isinstance(value, (str, bool)):
        return value
    if isinstance(value, (int, float)):
        return _decode_number(value)
    if depth >= MAX_DEPTH:
        raise ValueDecodeError(f"value is nested deeper than {MAX_DEPTH} levels")
    if isinstance(value, dict):
        return _decode_object(value, depth + 1)
    if isinstance(value, list):
        return _decode_array(value, depth + 1)
    raise ValueDecodeError(f"{type(value).__name__} is not a JSON value")


def _decode_number(value: int | float) -> int | float:
    # Integral float64s come back as int (see the module docstring).
    if type(value) is int:
        if -MAX_SAFE_INTEGER <= value <= MAX_SAFE_INTEGER:
            return value
        try:
            return float(value)  # beyond 2**53 no integral float comes back as int
        except OverflowError:
            raise ValueDecodeError("JSON number is too large for a float64") from None
    number = float(value)
    if (
        number.is_integer()
        and -MAX_SAFE_INTEGER <= number <= MAX_SAFE_INTEGER
        and (number or math.copysign(1.0, number) > 0)
    ):
        return int(number)
    return number


def _decode_array(items: list[object], depth: int) -> Value:
    out: list[Value] = []
    for index, item in enumerate(items):
        try:
            out.append(_decode(item, depth))
        except ValueDecodeError as exc:
            raise ValueDecodeError(exc.reason, (index, *exc.path)) from None
    return out


def _decode_object(obj: dict[object, object], depth: int) -> Value:
    if len(obj) == 1:
        (key,) = obj
        if isinstance(key, str) and key.startswith("$"):
            return _decode_special(key, obj[key])
    out: dict[str, Value] = {}
    for key, item in obj.items():
        problem = check_object_key(key)
        if problem is not None:
            raise ValueDecodeError(problem)
        assert isinstance(key, str)  # narrowed by check_object_key
        try:
            out[key] = _decode(item, depth)
        except ValueDecodeError as exc:
            raise ValueDecodeError(exc.reason, (key, *exc.path)) from None
    return out


def _decode_special(tag: str, payload: object) -> Value:
    if tag == "$integer":
        return Int64(int.from_bytes(_eight_bytes(tag, payload), "little", signed=True))
    if tag == "$float":
        return _decode_special_float(_eight_bytes(tag, payload))
    if tag == "$bytes":
        return _b64(tag, payload)
    if tag in ("$set", "$map"):
        raise ValueDecodeError(f"{tag} values are no longer supported")
    # $commitTs only has meaning inside the real backend's mutation runner.
    raise ValueDecodeError(f"unknown special value {tag!r}")


def _decode_special_float(raw: bytes) -> float:
    (number,) = _DOUBLE.unpack(raw)
    assert isinstance(number, float)
    if math.isfinite(number) and (number != 0.0 or math.copysign(1.0, number) > 0):
        raise ValueDecodeError(f"$float {number!r} should be encoded as a number")
    return number


def _eight_bytes(tag: str, payload: object) -> bytes:
    raw = _b64(tag, payload)
    if len(raw) != 8:
        raise ValueDecodeError(f"{tag} payload decodes to {len(raw)} bytes, expected 8")
    return raw


def _b64(tag: str, payload: object) -> bytes:
    if not isinstance(payload, str):
        raise ValueDecodeError(f"{tag} payload must be a base64 string")
    try:
        return base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError):
        raise ValueDecodeError(f"{tag} payload {payload[:40]!r} is not valid base64") from None


def decode_args(raw: object) -> dict[str, Value]:
    """Decode function arguments.

    Accepts the sync protocol's one-element array ``[{...}]`` and the bare
    object ``{...}`` that the HTTP API clients send.

    Raises:
        ValueDecodeError: anything else, or a bad value inside.
    """
    if isinstance(raw, list):
        if len(raw) != 1:
            raise ValueDecodeError(
                f"function args must be an array of exactly one object, got {len(raw)} elements"
            )
        raw = raw[0]
    if not isinstance(raw, dict):
        raise ValueDecodeError(f"function args must be an object, got {json_kind(raw)}")
    decoded = _decode(raw, 0)
    if not isinstance(decoded, dict):
        raise ValueDecodeError("function args must be an object, got a special value")
    return decoded


def json_kind(value: object) -> str:
    """Name the JSON type of ``value`` for error messages ("an array", "null")."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


# -- JSON text ---------------------------------------------------------------


def dumps(json_value: JSONValue) -> str:
    """Serialize JSON compactly, refusing NaN/Infinity tokens.

    Raises:
        ValueEncodeError: the JSON holds a non-finite float or a non-JSON type.
    """
    try:
        return json.dumps(json_value, separators=(",", ":"), allow_nan=False, ensure_ascii=False)
    except (ValueError, TypeError) as exc:
        raise ValueEncodeError(f"not serializable as JSON: {exc}") from None


def canonical_json(json_value: JSONValue) -> str:
    """Serialize JSON with sorted keys: equal values give equal text (cache keys, hashes)."""
    try:
        return json.dumps(
            json_value,
            separators=(",", ":"),
            sort_keys=True,
            allow_nan=False,
            ensure_ascii=False,
        )
    except (ValueError, TypeError) as exc:
        raise ValueEncodeError(f"not serializable as JSON: {exc}") from None
