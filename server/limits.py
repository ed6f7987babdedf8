"""Checking the sizes `server.config.Limits` sets, and the messages naming them.

Sizes are UTF-8 bytes of JSON text as livesync writes it (compact, not
ASCII-escaped), so a limit means the same wherever it is checked. Each check
returns the client-visible refusal, or None; callers turn it into a failed
call, a failed query or a close, whichever the protocol allows.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from protocol.values import JSONValue, dumps

__all__ = [
    "args_refusal",
    "frame_size_bound",
    "json_size",
    "nesting_refusal",
    "path_refusal",
    "session_id_refusal",
    "size_refusal",
    "text_size",
]

# livesync re-serializes parsed arguments, and a number can come back longer
# than it was sent ("1E15" is written as "1000000000000000.0"), but never
# more than this many times: frames smaller than limit / this are not measured.
_REWRITE_GROWTH = 5


def text_size(text: str) -> int:
    """UTF-8 bytes of `text`; free for ASCII text (CPython knows it is ASCII)."""
    if text.isascii():
        return len(text)
    return len(text.encode("utf-8", "surrogatepass"))


def json_size(value: JSONValue) -> int:
    return text_size(dumps(value))


def size_refusal(subject: str, size: int, limit: int) -> str | None:
    """`subject` with its verb: "Document is", "Arguments are"."""
    if size <= limit:
        return None
    return f"{subject} too large ({size:,} bytes; the limit is {limit:,} bytes)"


def args_refusal(raw_args: JSONValue, frame_size: int, limit: int) -> str | None:
    """Arguments too large to run; `frame_size` bounds the text they came in,
    so the common small call is not measured at all."""
    if frame_size * _REWRITE_GROWTH <= limit:
        return None
    return size_refusal("Arguments are", json_size(raw_args), limit)


def frame_size_bound(frame: str | bytes) -> int:
    """At least the UTF-8 size of `frame`, without encoding it."""
    if isinstance(frame, bytes) or frame.isascii():
        return len(frame)
    return 4 * len(frame)


def path_refusal(path: str, limit: int) -> str | None:
    size = text_size(path)
    if size <= limit:
        return None
    return f"udfPath is too long ({size:,} bytes; the limit is {limit:,} bytes)"


def session_id_refusal(session_id: str, limit: int) -> str | None:
    size = text_size(session_id)
    if size <= limit:
        return None
    return f"sessionId is too long ({size:,} bytes; the limit is {limit:,} bytes)"


def nesting_refusal(value: Any, limit: int) -> str | None:
    """A document nested deeper than `limit` (the document itself is level 1).
    Call after `encode` succeeded: that bounds the depth, so this cannot recurse
    without end."""
    depth = _depth(value, limit + 1)
    if depth <= limit:
        return None
    return f"Document is nested too deeply (more than {limit} levels of objects and arrays)"


def _depth(value: Any, stop: int) -> int:
    # Stops descending once `stop` is reached: the answer is then "too deep".
    if isinstance(value, dict):
        children: Iterable[Any] = value.values()
    elif isinstance(value, list | tuple):
        children = value
    else:
        return 0
    if stop <= 1:
        return 1
    deepest = 0
    for child in children:
        if isinstance(child, dict | list | tuple):
            deepest = max(deepest, _depth(child, stop - 1))
            if deepest >= stop - 1:
                break
    return 1 + deepest
