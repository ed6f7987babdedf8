"""Values as error messages show them: short Convex JSON, as JS would print it."""

from __future__ import annotations

import base64
import json
import math
from collections.abc import Mapping
from typing import Any

from protocol.values import Int64, decode

__all__ = [
    "show_value",
]

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
