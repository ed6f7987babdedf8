"""`ctx.db.query(table)`: the query builder and its pagination."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from server.errors import FunctionError
from server.functions.filters import Expression, FilterBuilder, compile_filter
from server.functions.pagination import (
    DEFAULT_MAX_ROWS_READ,
    END,
    End,
    PaginationOptions,
    Position,
    decode_cursor,
    decode_rank_key,
    encode_cursor,
    encode_rank_key,
    invalid_cursor,
)
from server.functions.ranges import KeyInterval, RangeFunction, interval_for
from server.functions.search import SearchFilter, SearchFunction, build_search
from server.store.base import Document, Order
from server.store.keys import successor

if TYPE_CHECKING:
    from server.functions.database.reader import DatabaseReader

__all__ = [
    "QueryBuilder",
]


class QueryBuilder:
    """`ctx.db.query(table)`: narrow with `with_index`, `filter`, `order`,
    then await one of `collect`, `take`, `first`, `unique`, `paginate`."""

    def __init__(self, db: DatabaseReader, table: str) -> None:
        self._db = db
        self._table = table
        self._index = "by_creation_time"
        self._range: RangeFunction | None = None
        self._indexed = False
        self._filters: list[Expression] = []
        self._order: Order | None = None
        self._search: SearchFilter | None = None

    def with_index(self, name: str, range: RangeFunction | None = None) -> QueryBuilder:
        if self._indexed:
            raise FunctionError("with_index() or with_search_index() may be called once per query")
        self._db._index_fields(self._table, name)  # fail early for an unknown index
        self._indexed = True
        self._index, self._range = name, range
        return self

    def with_search_index(self, name: str, search: SearchFunction) -> QueryBuilder:
        """Full-text search: the documents matching `search` (`lambda q:
        q.search(field, text).eq(field, value)`), most relevant first."""
        if self._indexed:
            raise FunctionError("with_index() or with_search_index() may be called once per query")
        if self._order is not None:
            raise FunctionError("Search results come by relevance: order() cannot be used")
        index = self._db._search_index(self._table, name)
        self._indexed = True
        self._search = build_search(index, search)
        return self

    def filter(self, predicate: Callable[[FilterBuilder], Any]) -> QueryBuilder:
        self._filters.append(compile_filter(predicate))
        return self

    def order(self, order: Order) -> QueryBuilder:
        if order not in ("asc", "desc"):
            raise FunctionError(f'order() takes "asc" or "desc", not {order!r}')
        if self._search is not None:
            raise FunctionError("Search results come by relevance: order() cannot be used")
        if self._order is not None:
            raise FunctionError("order() may be called once per query")
        self._order = order
        return self

    async def collect(self) -> list[Document]:
        docs, _, _ = await self._run(None, self._interval())
        return docs

    async def take(self, n: int | float) -> list[Document]:
        if isinstance(n, bool) or not isinstance(n, (int, float)) or n < 0 or n != int(n):
            raise FunctionError(f"take() needs a whole number >= 0, got {n!r}")
        docs, _, _ = await self._run(int(n), self._interval())
        return docs

    async def first(self) -> Document | None:
        docs, _, _ = await self._run(1, self._interval())
        return docs[0] if docs else None

    async def unique(self) -> Document | None:
        docs, _, _ = await self._run(2, self._interval())
        if len(docs) > 1:
            raise FunctionError(
                f"unique() found more than one document in {self._table} "
                f"(ids {docs[0]['_id']} and {docs[1]['_id']})"
            )
        return docs[0] if docs else None

    async def paginate(self, options: Mapping[str, Any]) -> dict[str, Any]:
        """One page: `{"page", "isDone", "continueCursor"}`, plus `splitCursor`
        and `pageStatus` when the page should be split (see pagination.py).

        Without an end (no `endCursor`, no journal from an earlier run) the
        page is the next `numItems` documents after `cursor`, and its end is
        pinned in the journal; with one, it is every document up to that end.
        """
        opts = PaginationOptions.parse(options)
        if self._search is not None:
            return await self._paginate_search(self._search, opts)
        pinned_text = self._db._journal.begin()
        if opts.end_cursor is not None:
            pinned_text = opts.end_cursor  # the client's split pages name their end
        index = f"{self._table}.{self._index}"
        start = decode_cursor(opts.cursor, index)
        pinned = pinned_text is not None
        end: Position = decode_cursor(pinned_text, index) if pinned else END
        row_limit = opts.maximum_rows_read or max(DEFAULT_MAX_ROWS_READ, opts.num_items)
        byte_limit = opts.maximum_bytes_read
        scan = await self._db._scan_page(
            index,
            self._page_interval(start, end),
            self._direction,
            self._keep(),
            None if pinned else opts.num_items,
            row_limit,
            byte_limit,
        )
        if not pinned:
            if scan.exhausted:
                end = END
            elif scan.keys:
                end = scan.keys[-1]
            else:  # numItems 0: an empty page that ends where it starts
                end = start
        continue_cursor = encode_cursor(end, index)
        self._db._journal.pin(continue_cursor)
        result: dict[str, Any] = {
            "page": scan.docs,
            "isDone": isinstance(end, End),
            "continueCursor": continue_cursor,
        }
        status = None
        if pinned and scan.cut:
            status = "SplitRequired"  # a partial page: the client must split it
        elif pinned and len(scan.keys) >= 2:
            grown = len(scan.docs) > 2 * max(opts.num_items, 1)
            heavy = len(scan.keys) > row_limit * 3 // 4 or (
                byte_limit is not None and scan.bytes_read > byte_limit * 3 // 4
            )
            if grown or heavy:
                status = "SplitRecommended"
        if status is not None:
            # The middle of what was read: both halves are smaller than this page.
            split = scan.keys[max(0, len(scan.keys) // 2 - 1)]
            result["splitCursor"] = encode_cursor(split, index)
            result["pageStatus"] = status
        return result

    async def _paginate_search(
        self, search: SearchFilter, opts: PaginationOptions
    ) -> dict[str, Any]:
        """A page of search results, most relevant first: the same cursors
        and pinned ends as an index's pages, placed by `RankKey` (a result
        whose score changes may move to another page, but every result is
        on exactly one page at any snapshot)."""
        pinned_text = self._db._journal.begin()
        if opts.end_cursor is not None:
            pinned_text = opts.end_cursor
        tag = f"{search.index.name}.search"
        start = decode_cursor(opts.cursor, tag)
        pinned = pinned_text is not None
        end: Position = decode_cursor(pinned_text, tag) if pinned else END
        docs: list[Document] = []
        if isinstance(start, End) or end is None or (not pinned and opts.num_items == 0):
            end = start  # nothing after the end, or an empty page by request
        else:
            after = None if start is None else decode_rank_key(start)
            upto = decode_rank_key(end) if isinstance(end, bytes) else None
            count = None if pinned else opts.num_items
            docs, last, exhausted = await self._db._search_page(
                search, self._keep(), after, upto, count
            )
            if not pinned:
                end = END if exhausted or last is None else encode_rank_key(last)
        continue_cursor = encode_cursor(end, tag)
        self._db._journal.pin(continue_cursor)
        return {"page": docs, "isDone": isinstance(end, End), "continueCursor": continue_cursor}

    def _page_interval(self, start: Position, end: Position) -> KeyInterval:
        """The part of the query's range after `start` up to and including `end`."""
        base = self._interval()
        assert base is not None
        empty = KeyInterval(base.start, base.start)
        if isinstance(start, End) or end is None:
            return empty
        if isinstance(start, bytes) and isinstance(end, bytes):
            backwards = end < start if self._direction == "asc" else end > start
            if backwards:
                raise invalid_cursor("endCursor lies before cursor")
        low, high = base.start, base.end
        if self._direction == "asc":
            if isinstance(start, bytes):
                low = max(low, successor(start))
            if isinstance(end, bytes):
                high = successor(end) if high is None else min(high, successor(end))
        else:
            if isinstance(start, bytes):
                high = start if high is None else min(high, start)
            if isinstance(end, bytes):
                low = max(low, end)
        interval = KeyInterval(low, high)
        return empty if interval.is_empty else interval

    @property
    def _direction(self) -> Order:
        return self._order or "asc"

    def _interval(self) -> KeyInterval | None:
        if self._search is not None:
            return None
        fields = self._db._index_fields(self._table, self._index)
        return interval_for(f"{self._table}.{self._index}", fields, self._range)

    def _keep(self) -> Callable[[Document], bool]:
        filters = self._filters

        def keep(doc: Document) -> bool:
            return all(expression.evaluate(doc) is True for expression in filters)

        return keep

    async def _run(
        self, limit: int | None, interval: KeyInterval | None
    ) -> tuple[list[Document], bytes | None, bool]:
        if self._search is not None:
            return await self._db._search(self._search, self._keep(), limit), None, True
        assert interval is not None
        return await self._db._scan(
            f"{self._table}.{self._index}", interval, self._direction, self._keep(), limit
        )
