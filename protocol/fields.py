"""Typed, checked access to the fields of one parsed wire object.

Every parser in ``protocol/`` reads its input through :class:`Fields`, so each
malformed message is refused with the same kind of message, naming the
message type and the field: ``Mutation.requestId: expected an integer, got "7"``.
Unknown extra fields are ignored, as both official clients do.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping
from typing import TypeVar, cast

from protocol.errors import RemoteProtocolError
from protocol.timestamps import decode_ts
from protocol.values import JSONValue, json_kind

__all__ = ["I64_MAX", "I64_MIN", "U32_MAX", "Fields", "load_object", "parse_tagged"]

U32_MAX = 2**32 - 1
"""The top of the protocol's small integers (querySet, identity, queryId,
requestId, connectionCount, baseVersion, newVersion): u32 in the Rust client
and the real server (convex-protocol.md §2). Refusing more while parsing keeps
a hostile number away from the session, the committer and SQLite."""
I64_MAX = 2**63 - 1
I64_MIN = -(2**63)

_T = TypeVar("_T")
M = TypeVar("M")
_ABSENT = object()


def load_object(text: str | bytes, what: str) -> dict[str, JSONValue]:
    """Parse one frame's text into a JSON object.

    Raises:
        RemoteProtocolError: malformed JSON or UTF-8, or not a JSON object.
    """
    try:
        data = json.loads(text)
    except (ValueError, RecursionError) as exc:
        # JSONDecodeError and UnicodeDecodeError are both ValueErrors.
        raise RemoteProtocolError(f"{what} is not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise RemoteProtocolError(f"{what} must be a JSON object, got {json_kind(data)}")
    return cast(dict[str, JSONValue], data)


def parse_tagged(text: str | bytes, parsers: Mapping[str, Callable[[Fields], M]], side: str) -> M:
    """Parse a frame and hand it to the parser its ``type`` names.

    Raises:
        RemoteProtocolError: malformed JSON, a non-object, or an unknown ``type``
            (and whatever the chosen parser raises).
    """
    data = load_object(text, f"{side} message")
    kind = data.get("type")
    parser = parsers.get(kind) if isinstance(kind, str) else None
    if parser is None:
        raise RemoteProtocolError(f"unknown {side} message type {kind!r}")
    return parser(Fields(data, str(kind)))


class Fields:
    """A JSON object plus the name it is reported under (``where``)."""

    __slots__ = ("data", "where")

    def __init__(self, data: object, where: str) -> None:
        if not isinstance(data, dict):
            raise RemoteProtocolError(f"{where}: expected an object, got {json_kind(data)}")
        self.data: dict[str, JSONValue] = data
        self.where = where

    def fail(self, name: str, problem: str) -> RemoteProtocolError:
        """Build the error for a bad field, for callers with their own checks."""
        return RemoteProtocolError(f"{self.where}.{name}: {problem}")

    def has(self, name: str) -> bool:
        """True when the field is present, even if null."""
        return name in self.data

    def required(self, name: str) -> JSONValue:
        """A required field of any JSON type (null included)."""
        value = self.data.get(name, _ABSENT)
        if value is _ABSENT:
            raise self.fail(name, "missing required field")
        return cast(JSONValue, value)

    def optional_any(self, name: str) -> JSONValue:
        """A field of any JSON type; absent reads as None."""
        return self.data.get(name)

    def integer(self, name: str, top: int = U32_MAX) -> int:
        """A required integer in ``0..top`` (a u32 unless told otherwise)."""
        value = self.required(name)
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= top:
            raise self.fail(
                name, f"expected a non-negative integer up to {top}, got {_show(value)}"
            )
        return value

    def optional_int(self, name: str, top: int = U32_MAX) -> int | None:
        """An integer in ``0..top`` that may be absent or null."""
        return None if self.data.get(name) is None else self.integer(name, top)

    def signed_int(self, name: str) -> int | None:
        """An i64 that may be absent or null (clock skew)."""
        value = self.data.get(name)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int) or not I64_MIN <= value <= I64_MAX:
            raise self.fail(
                name, f"expected an integer in {I64_MIN}..{I64_MAX}, got {_show(value)}"
            )
        return value

    def optional_number(self, name: str) -> float | None:
        """A finite JSON number (int or float) that may be absent or null."""
        value = self.data.get(name)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise self.fail(name, f"expected a number, got {_show(value)}")
        try:
            number = float(value)
        except OverflowError:  # an int past float64's range
            number = math.inf
        if not math.isfinite(number):
            raise self.fail(name, f"expected a finite number, got {_show(value)}")
        return number

    def boolean(self, name: str) -> bool:
        """A required boolean."""
        value = self.required(name)
        if not isinstance(value, bool):
            raise self.fail(name, f"expected a boolean, got {_show(value)}")
        return value

    def string(self, name: str) -> str:
        """A required string."""
        value = self.required(name)
        if not isinstance(value, str):
            raise self.fail(name, f"expected a string, got {_show(value)}")
        return value

    def optional_str(self, name: str) -> str | None:
        """A string that may be absent or null."""
        return None if self.data.get(name) is None else self.string(name)

    def array(self, name: str) -> list[JSONValue]:
        """A required array."""
        value = self.required(name)
        if not isinstance(value, list):
            raise self.fail(name, f"expected an array, got {_show(value)}")
        return value

    def strings(self, name: str) -> tuple[str, ...]:
        """A required array of strings (``logLines``)."""
        items = self.array(name)
        for index, item in enumerate(items):
            if not isinstance(item, str):
                raise self.fail(f"{name}[{index}]", f"expected a string, got {_show(item)}")
        return tuple(cast(list[str], items))

    def ts(self, name: str) -> int:
        """A required base64 u64 timestamp."""
        value = self.required(name)
        try:
            return decode_ts(cast(str, value))
        except RemoteProtocolError as exc:
            raise self.fail(name, str(exc)) from None

    def optional_ts(self, name: str) -> int | None:
        """A base64 u64 timestamp that may be absent or null."""
        return None if self.data.get(name) is None else self.ts(name)

    @staticmethod
    def at(value: object, where: str) -> Fields:
        """Wrap a value found at ``where`` (an array element, say)."""
        return Fields(value, where)

    def choice(self, name: str, allowed: tuple[_T, ...]) -> _T:
        """A required field whose value must be one of ``allowed``."""
        value = self.required(name)
        for option in allowed:
            if value == option and type(value) is type(option):
                return option
        names = ", ".join(repr(option) for option in allowed)
        raise self.fail(name, f"expected one of {names}, got {_show(value)}")


def _show(value: object) -> str:
    text = json.dumps(value, default=repr)
    return text if len(text) <= 40 else text[:37] + "..."
