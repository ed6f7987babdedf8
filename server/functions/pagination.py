"""Pagination options and cursors for `query.paginate({"numItems", "cursor"})`.

A cursor is an opaque string naming a position in an index: the key of the
last document a page consumed (`"k" + base64url(key)`), or the start of the
range (`"s"`). The next page scans strictly after that key (or strictly
before it, for "desc"), so a cursor means the same thing on every re-run.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from server.errors import FunctionError

__all__ = ["START_CURSOR", "PaginationOptions", "decode_cursor", "encode_cursor"]

START_CURSOR = "s"
_KEY_PREFIX = "k"
MAX_PAGE_SIZE = 32_000


@dataclass(frozen=True, slots=True)
class PaginationOptions:
    num_items: int
    cursor: bytes | None  # last key of the previous page; None: from the start

    @classmethod
    def parse(cls, options: Any) -> PaginationOptions:
        """Read `{"numItems": n, "cursor": str | None}` as the clients send it
        (the Python client sends numbers as floats)."""
        if not isinstance(options, Mapping):
            raise FunctionError('paginate() takes {"numItems": n, "cursor": cursor or None}')
        num_items = options.get("numItems")
        if isinstance(num_items, bool) or not isinstance(num_items, (int, float)):
            raise FunctionError(f"paginate(): numItems must be a number, got {num_items!r}")
        if num_items != int(num_items) or not 0 <= num_items <= MAX_PAGE_SIZE:
            raise FunctionError(
                f"paginate(): numItems must be a whole number from 0 to {MAX_PAGE_SIZE}, "
                f"got {num_items!r}"
            )
        return cls(int(num_items), decode_cursor(options.get("cursor")))


def encode_cursor(key: bytes | None) -> str:
    """The cursor for a position after `key` (None: the start of the range)."""
    if key is None:
        return START_CURSOR
    return _KEY_PREFIX + base64.urlsafe_b64encode(key).decode("ascii").rstrip("=")


def decode_cursor(cursor: Any) -> bytes | None:
    """The key a cursor names, or None for the start. Raises `FunctionError`
    for anything that is not a cursor this server handed out."""
    if cursor is None or cursor == START_CURSOR:
        return None
    if not isinstance(cursor, str) or not cursor.startswith(_KEY_PREFIX):
        raise FunctionError(f"Invalid pagination cursor {cursor!r}")
    body = cursor[len(_KEY_PREFIX) :]
    try:
        key = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
    except (binascii.Error, ValueError):
        raise FunctionError(f"Invalid pagination cursor {cursor!r}") from None
    if not key:
        raise FunctionError(f"Invalid pagination cursor {cursor!r}")
    return key
