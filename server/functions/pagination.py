"""Pagination options, cursors and the query journal for `query.paginate(opts)`.

A cursor is an opaque string naming a position in one index's scan: the
start of the range (`"s"`), its end (`"e"`), or just past the document with
index key K (`"k" + base64url(tag + K)`, where the tag is a short hash of the
index name, so a cursor from another index is refused rather than misread).
"Past" follows the scan order: for "desc" the next page holds smaller keys.

A page is the documents between its start cursor and its end. The first run
of a page has no end yet: it reads `numItems` documents and pins its end at
the last one (or at `"e"` when it ran out of documents). The pinned end is
handed to the client in the query's journal and every later run of that page
(a re-run after a write, or a re-subscribe carrying the journal) reads from
the start cursor up to that end, however many documents that is, so a page
grows or shrinks in place and its `continueCursor` (the pinned end) is where
the next page starts: no document is lost or repeated between pages.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import struct
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from server.errors import FunctionError
from server.functions.validators import v
from server.store.search_text import RankKey

__all__ = [
    "DEFAULT_MAX_ROWS_READ",
    "END",
    "END_CURSOR",
    "MAX_PAGE_SIZE",
    "START_CURSOR",
    "End",
    "PageJournal",
    "PaginationOptions",
    "Position",
    "decode_cursor",
    "decode_journal",
    "decode_rank_key",
    "encode_cursor",
    "encode_journal",
    "encode_rank_key",
    "invalid_cursor",
    "paginationOptsValidator",
    "pagination_opts_validator",
]

START_CURSOR = "s"
END_CURSOR = "e"
_KEY_PREFIX = "k"
_JOURNAL_PREFIX = "page1:"
_TAG_SIZE = 4
MAX_PAGE_SIZE = 32_000
DEFAULT_MAX_ROWS_READ = 8_192
"""Rows a page reads at most unless `maximumRowsRead` says otherwise (or
`numItems` is larger): a pinned page that has grown past it is cut short
with `pageStatus: "SplitRequired"` instead of failing."""


class End:
    """The type of `END`: the position after every document of the range."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "END"


END: Final = End()

Position = bytes | None | End
"""A cursor decoded: None is the start of the range, `END` its end, bytes
the index key of the last document before the position."""


def invalid_cursor(detail: str) -> FunctionError:
    # "InvalidCursor" in the message makes usePaginatedQuery start over.
    return FunctionError(f"InvalidCursor: {detail}")


# The validator of the options the official clients send as `paginationOpts`
# (`id` is the React hook's, to keep two hooks' pages apart).
pagination_opts_validator = v.object(
    {
        "numItems": v.number(),
        "cursor": v.union(v.string(), v.null()),
        "endCursor": v.optional(v.union(v.string(), v.null())),
        "id": v.optional(v.number()),
        "maximumRowsRead": v.optional(v.number()),
        "maximumBytesRead": v.optional(v.number()),
    }
)
paginationOptsValidator = pagination_opts_validator  # noqa: N816 (Convex's name, for ported code)


def _whole(options: Mapping[str, Any], name: str, low: int, high: int | None) -> int | None:
    value = options.get(name)
    if value is None:
        return None
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or value != value  # NaN
        or value in (float("inf"), float("-inf"))
        or value != int(value)
        or value < low
        or (high is not None and value > high)
    ):
        bound = f"from {low} to {high}" if high is not None else f"of at least {low}"
        raise FunctionError(f"paginate(): {name} must be a whole number {bound}, got {value!r}")
    return int(value)


@dataclass(frozen=True, slots=True)
class PaginationOptions:
    """`paginationOpts` as the clients send it. `end_cursor` is the raw
    string (decoded against the index later), None when not given."""

    num_items: int
    cursor: str | None
    end_cursor: str | None = None
    maximum_rows_read: int | None = None
    maximum_bytes_read: int | None = None

    @classmethod
    def parse(cls, options: Any) -> PaginationOptions:
        """Read `{"numItems", "cursor", "endCursor"?, "maximumRowsRead"?,
        "maximumBytesRead"?}`; numbers may be int or float (the clients
        send floats). Other keys (the React hook's `id`) are ignored."""
        if not isinstance(options, Mapping):
            raise FunctionError(
                'paginate() takes {"numItems": n, "cursor": cursor or None}, '
                f"got {type(options).__name__}"
            )
        if "numItems" not in options or options["numItems"] is None:
            raise FunctionError("paginate(): numItems is required")
        num_items = _whole(options, "numItems", 0, MAX_PAGE_SIZE)
        assert num_items is not None
        cursor = options.get("cursor")
        end_cursor = options.get("endCursor")
        for name, value in (("cursor", cursor), ("endCursor", end_cursor)):
            if value is not None and not isinstance(value, str):
                raise invalid_cursor(f"{name} must be a string or None, got {value!r}")
        return cls(
            num_items,
            cursor,
            end_cursor,
            _whole(options, "maximumRowsRead", 1, None),
            _whole(options, "maximumBytesRead", 1, None),
        )


def _tag(index: str) -> bytes:
    return hashlib.blake2b(index.encode(), digest_size=_TAG_SIZE).digest()


def encode_cursor(position: Position, index: str) -> str:
    """The cursor string of `position` in `index` ("table.index")."""
    if position is None:
        return START_CURSOR
    if isinstance(position, End):
        return END_CURSOR
    body = base64.urlsafe_b64encode(_tag(index) + position).decode("ascii").rstrip("=")
    return _KEY_PREFIX + body


def encode_rank_key(key: RankKey) -> bytes:
    """A search result's place as a cursor position (a search pages by it)."""
    score, creation_time, doc_id = key
    return struct.pack(">dd", score, creation_time) + doc_id.encode()


def decode_rank_key(position: bytes) -> RankKey:
    try:
        score, creation_time = struct.unpack(">dd", position[:16])
        return score, creation_time, position[16:].decode()
    except (struct.error, UnicodeDecodeError):
        raise invalid_cursor("not a search cursor") from None


def decode_cursor(cursor: Any, index: str) -> Position:
    """The position a cursor names in `index`; None (no cursor) is the start.
    Raises `FunctionError` ("InvalidCursor: ...") for anything that is not a
    cursor this server handed out for this index."""
    if cursor is None or cursor == START_CURSOR:
        return None
    if cursor == END_CURSOR:
        return END
    if not isinstance(cursor, str) or not cursor.startswith(_KEY_PREFIX):
        raise invalid_cursor(f"{cursor!r} is not a pagination cursor")
    body = cursor[len(_KEY_PREFIX) :]
    try:
        raw = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
    except (binascii.Error, ValueError):
        raise invalid_cursor(f"{cursor!r} is not a pagination cursor") from None
    if len(raw) <= _TAG_SIZE:
        raise invalid_cursor(f"{cursor!r} is not a pagination cursor")
    if raw[:_TAG_SIZE] != _tag(index):
        raise invalid_cursor(f"cursor {cursor!r} belongs to another query (not {index})")
    return raw[_TAG_SIZE:]


def encode_journal(end_cursor: str) -> str:
    """The journal of a page whose end is pinned at `end_cursor`."""
    return _JOURNAL_PREFIX + end_cursor


def decode_journal(journal: str) -> str:
    """The end cursor a journal pins. Raises `FunctionError` for a journal
    this server did not produce."""
    if not journal.startswith(_JOURNAL_PREFIX):
        raise invalid_cursor(f"query journal {journal!r} was not produced by this server")
    return journal[len(_JOURNAL_PREFIX) :]


class PageJournal:
    """The journal of one execution: the end pinned by an earlier run (the
    journal it was given) and the end this run pinned. Also enforces that a
    function runs at most one paginated query, as Convex does: one journal
    can only pin one page."""

    __slots__ = ("given", "produced", "used")

    def __init__(self, given: str | None = None) -> None:
        self.given = given
        self.produced: str | None = None
        self.used = False

    def begin(self) -> str | None:
        """Mark paginate() as run; the end cursor the given journal pins, if any."""
        if self.used:
            raise FunctionError(
                "paginate() may run only once per function execution: a query "
                "function can hold one paginated query (split the other into its own query)"
            )
        self.used = True
        return None if self.given is None else decode_journal(self.given)

    def pin(self, end_cursor: str) -> None:
        self.produced = encode_journal(end_cursor)

    @property
    def result(self) -> str | None:
        """The journal to hand back: the pinned end, or the given journal
        unchanged when this run did not paginate (e.g. it failed first)."""
        return self.produced if self.produced is not None else self.given
