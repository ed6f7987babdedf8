"""`ctx.db`: reading (queries) and writing (mutations) with read-set recording.

Every read records the index interval it depended on in the execution's
`ReadSet` (sync-engine.md §1): a range scan from its start up to and
including the last key it consumed (the whole range once exhausted; for
"desc", from the last consumed key to the end), and `get(id)` the single key
of the id on `<table>.by_id`, hit or miss. Filters run after reading, so
they never narrow what was recorded. Documents handed to the function are
fresh copies, so app code may modify them freely.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from protocol.errors import ValueEncodeError
from protocol.values import dumps, encode
from server.config import Limits
from server.errors import DocumentNotFound, FunctionError, LimitExceeded, SchemaError
from server.functions.filters import Expression, FilterBuilder, compile_filter
from server.functions.pagination import (
    DEFAULT_MAX_ROWS_READ,
    END,
    End,
    PageJournal,
    PaginationOptions,
    Position,
    decode_cursor,
    encode_cursor,
    invalid_cursor,
)
from server.functions.ranges import KeyInterval, interval_for
from server.functions.readset import ReadSet
from server.functions.schema import Schema, system_index_fields
from server.functions.timeouts import store_time
from server.limits import nesting_refusal, size_refusal, text_size
from server.store.base import Document, Order, Snapshot, Transaction
from server.store.ids import id_matches_table, is_id
from server.store.keys import index_key, successor

__all__ = [
    "MAX_DOCUMENTS_SCANNED",
    "DatabaseReader",
    "DatabaseWriter",
    "QueryBuilder",
    "ReadBudget",
    "TableCatalog",
]

MAX_DOCUMENTS_SCANNED = 32_000
"""Most documents one execution may read (Convex's limit)."""


class ReadBudget:
    """Counts the documents one execution scanned, across all its queries."""

    __slots__ = ("scanned", "limit")

    def __init__(self, limit: int = MAX_DOCUMENTS_SCANNED) -> None:
        self.scanned = 0
        self.limit = limit

    def charge(self) -> None:
        self.scanned += 1
        if self.scanned > self.limit:
            raise LimitExceeded(
                f"Too many documents read in a single function execution (limit: {self.limit}). "
                "Use an index range or paginate to read fewer documents."
            )


class TableCatalog:
    """The table names this app is known to use, to tell which table an id
    belongs to: ids carry only a 16-bit hash of their table name."""

    __slots__ = ("_tables",)

    def __init__(self, tables: tuple[str, ...] = ()) -> None:
        self._tables: dict[str, None] = dict.fromkeys(tables)

    def note(self, table: str) -> None:
        self._tables.setdefault(table, None)

    def tables_for(self, id: str) -> list[str]:
        return [table for table in self._tables if id_matches_table(id, table)]


def fresh_copy(value: Any) -> Any:
    """A deep copy of a document value (only dicts and lists are mutable)."""
    if isinstance(value, dict):
        return {key: fresh_copy(item) for key, item in value.items()}
    if isinstance(value, list):
        return [fresh_copy(item) for item in value]
    return value


class DatabaseReader:
    """`ctx.db` of a query: reads at one snapshot."""

    def __init__(
        self,
        snapshot: Snapshot,
        read_set: ReadSet,
        *,
        schema: Schema | None = None,
        catalog: TableCatalog | None = None,
        budget: ReadBudget | None = None,
        journal: PageJournal | None = None,
    ) -> None:
        self._snapshot = snapshot
        self._read_set = read_set
        self._schema = schema
        self._catalog = catalog if catalog is not None else TableCatalog()
        self._budget = budget if budget is not None else ReadBudget()
        self._journal = journal if journal is not None else PageJournal()

    async def get(self, table_or_id: str, id: str | None = None) -> Document | None:
        """The document with this id, or None. `get(id)` or `get(table, id)`."""
        table, doc_id = (None, table_or_id) if id is None else (table_or_id, id)
        if not is_id(doc_id):
            raise FunctionError(f"Invalid argument `id` for `db.get`: {doc_id!r} is not an id")
        tables = [table] if table is not None else self._catalog.tables_for(doc_id)
        key = index_key((), doc_id)
        # A miss is recorded too: a later insert of this id must re-run the reader.
        for candidate in tables:
            self._read_set.add(f"{candidate}.by_id", key, successor(key))
        if table is not None and not id_matches_table(doc_id, table):
            return None
        with store_time():
            doc = await self._snapshot.get(doc_id)
        if doc is None:
            return None
        self._budget.charge()
        copied: Document = fresh_copy(doc)
        return copied

    def normalize_id(self, table: str, id: Any) -> str | None:
        """`id` if it is an id of `table`, else None."""
        return id if id_matches_table(id, table) else None

    def query(self, table: str) -> QueryBuilder:
        """A query over every document of `table` (by creation time until
        narrowed with `with_index`)."""
        if not isinstance(table, str) or not table or table.startswith("_"):
            raise FunctionError(f"Invalid table name {table!r}")
        self._catalog.note(table)
        return QueryBuilder(self, table)

    def _index_fields(self, table: str, index: str) -> tuple[str, ...]:
        fields = system_index_fields(index)
        if fields is None and self._schema is not None:
            fields = self._schema.index_fields(table, index)
        if fields is None:
            raise FunctionError(
                f"Index {table}.{index} not found. Define it in schema.py with "
                f'define_table(...).index("{index}", [...])'
            )
        return fields

    async def _scan(
        self,
        index: str,
        interval: KeyInterval,
        order: Order,
        keep: Callable[[Document], bool],
        limit: int | None,
    ) -> tuple[list[Document], bytes | None, bool]:
        """Scan `interval` of `index` until `limit` documents pass `keep`.
        Returns (kept documents, last key consumed, whether exhausted) and
        records the consumed part of the interval in the read set."""
        scan = await self._scan_page(index, interval, order, keep, limit, None, None)
        return scan.docs, scan.keys[-1] if scan.keys else None, scan.exhausted

    async def _scan_page(
        self,
        index: str,
        interval: KeyInterval,
        order: Order,
        keep: Callable[[Document], bool],
        limit: int | None,
        row_limit: int | None,
        byte_limit: int | None,
    ) -> PageScan:
        """Scan `interval` of `index` until `limit` documents pass `keep`,
        recording the consumed part of the interval in the read set. A page
        (`row_limit` given) also stops (`cut`) before a row past `row_limit`
        rows or once `byte_limit` bytes were read, always reading at least
        one row so a split makes progress."""
        scan = PageScan()
        if row_limit is not None:
            # Stay inside the execution's budget: a grown page is cut, not failed.
            row_limit = max(1, min(row_limit, self._budget.limit - self._budget.scanned))
        if limit == 0 or interval.is_empty:
            scan.exhausted = interval.is_empty
            return scan
        rows: AsyncIterator[tuple[bytes, Document]] = self._snapshot.scan(
            index, interval.start, interval.end, order
        )
        keys = scan.keys
        try:
            with store_time():
                async for key, doc in rows:
                    if keys and (
                        (row_limit is not None and len(keys) >= row_limit)
                        or (byte_limit is not None and scan.bytes_read >= byte_limit)
                    ):
                        scan.cut = True
                        break
                    keys.append(key)
                    self._budget.charge()
                    if byte_limit is not None:
                        scan.bytes_read += len(dumps(encode(doc)))
                    if keep(doc):
                        scan.docs.append(fresh_copy(doc))
                        if limit is not None and len(scan.docs) >= limit:
                            break
                else:
                    scan.exhausted = True
        finally:
            await _close(rows)
            self._record(index, interval, order, keys[-1] if keys else None, scan.exhausted)
        return scan

    def _record(
        self, index: str, interval: KeyInterval, order: Order, last: bytes | None, done: bool
    ) -> None:
        if done:
            self._read_set.add(index, interval.start, interval.end)
        elif last is None:
            return  # nothing consumed: the result depends on nothing in the range
        elif order == "asc":
            self._read_set.add(index, interval.start, successor(last))
        else:
            self._read_set.add(index, last, interval.end)


@dataclass(slots=True)
class PageScan:
    """What `_scan_page` read."""

    docs: list[Document] = field(default_factory=list)
    keys: list[bytes] = field(default_factory=list)  # every row read, in scan order
    exhausted: bool = False  # the interval ran out
    cut: bool = False  # a row or byte limit stopped the scan first
    bytes_read: int = 0


async def _close(rows: AsyncIterator[Any]) -> None:
    closer = getattr(rows, "aclose", None)
    if closer is not None:
        await closer()


class QueryBuilder:
    """`ctx.db.query(table)`: narrow with `with_index`, `filter`, `order`,
    then await one of `collect`, `take`, `first`, `unique`, `paginate`."""

    def __init__(self, db: DatabaseReader, table: str) -> None:
        self._db = db
        self._table = table
        self._index = "by_creation_time"
        self._range: Callable[[Any], Any] | None = None
        self._indexed = False
        self._filters: list[Expression] = []
        self._order: Order | None = None

    def with_index(self, name: str, range: Callable[[Any], Any] | None = None) -> QueryBuilder:
        if self._indexed:
            raise FunctionError("with_index() may be called once per query")
        self._db._index_fields(self._table, name)  # fail early for an unknown index
        self._indexed = True
        self._index, self._range = name, range
        return self

    def filter(self, predicate: Callable[[FilterBuilder], Any]) -> QueryBuilder:
        self._filters.append(compile_filter(predicate))
        return self

    def order(self, order: Order) -> QueryBuilder:
        if order not in ("asc", "desc"):
            raise FunctionError(f'order() takes "asc" or "desc", not {order!r}')
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

    def _page_interval(self, start: Position, end: Position) -> KeyInterval:
        """The part of the query's range after `start` up to and including `end`."""
        base = self._interval()
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

    def _interval(self) -> KeyInterval:
        fields = self._db._index_fields(self._table, self._index)
        return interval_for(f"{self._table}.{self._index}", fields, self._range)

    def _keep(self) -> Callable[[Document], bool]:
        filters = self._filters

        def keep(doc: Document) -> bool:
            return all(expression.evaluate(doc) is True for expression in filters)

        return keep

    async def _run(
        self, limit: int | None, interval: KeyInterval
    ) -> tuple[list[Document], bytes | None, bool]:
        return await self._db._scan(
            f"{self._table}.{self._index}", interval, self._direction, self._keep(), limit
        )


class DatabaseWriter(DatabaseReader):
    """`ctx.db` of a mutation: reads and writes in one transaction. Writes
    are checked against the schema before they reach the store."""

    def __init__(
        self,
        transaction: Transaction,
        read_set: ReadSet,
        *,
        schema: Schema | None = None,
        catalog: TableCatalog | None = None,
        budget: ReadBudget | None = None,
        journal: PageJournal | None = None,
        limits: Limits | None = None,
    ) -> None:
        super().__init__(
            transaction, read_set, schema=schema, catalog=catalog, budget=budget, journal=journal
        )
        self._tx = transaction
        self._limits = limits if limits is not None else Limits()

    async def insert(self, table: str, doc: Mapping[str, Any]) -> str:
        """Insert `doc` (user fields only) into `table`; returns its `_id`."""
        if not isinstance(table, str) or not table or table.startswith("_"):
            raise FunctionError(f"Invalid table name {table!r}")
        _check_document(doc, self._limits)
        doc = self._validate(table, doc)
        with store_time():
            doc_id = await self._tx.insert(table, doc)
        self._catalog.note(table)
        return doc_id

    async def patch(self, id: str, fields: Mapping[str, Any]) -> None:
        """Shallow-merge `fields` into the document."""
        old = await self._existing(id, "patch")
        _check_document(fields, None)
        merged = {**_user_fields(old), **_user_fields(fields)}
        _check_document(merged, self._limits)  # what will be stored
        checked = self._validate_id(id, merged)
        with store_time():
            await self._tx.patch(
                id, {name: checked.get(name, value) for name, value in fields.items()}
            )

    async def replace(self, id: str, doc: Mapping[str, Any]) -> None:
        """Replace every user field of the document with `doc`."""
        await self._existing(id, "replace")
        _check_document(doc, self._limits)
        checked = self._validate_id(id, _user_fields(doc))
        with store_time():
            await self._tx.replace(id, {**doc, **checked})

    async def delete(self, id: str) -> None:
        await self._existing(id, "delete")
        with store_time():
            await self._tx.delete(id)

    async def _existing(self, id: str, verb: str) -> Document:
        if not is_id(id):
            raise FunctionError(f"Invalid argument `id` for `db.{verb}`: {id!r} is not an id")
        with store_time():
            doc = await self._tx.get(id)
        if doc is None:
            raise DocumentNotFound(f"{verb.capitalize()} on nonexistent document ID {id}")
        return doc

    # Both return the document as the schema has it stored (`v.int64()`
    # fields as Int64).
    def _validate(self, table: str, doc: Mapping[str, Any]) -> Mapping[str, Any]:
        if self._schema is None:
            return doc
        return {**doc, **self._schema.validate_document(table, _user_fields(doc))}

    def _validate_id(self, id: str, doc: Mapping[str, Any]) -> Mapping[str, Any]:
        if self._schema is not None:
            for table in self._schema.tables:
                if id_matches_table(id, table):
                    return self._schema.validate_document(table, doc)
        return doc


def _user_fields(doc: Mapping[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in doc.items() if not key.startswith("_")}


def _check_document(doc: Any, limits: Limits | None) -> None:
    """A valid Convex object, within `limits` (None: `doc` is only a patch)."""
    if not isinstance(doc, Mapping):
        raise SchemaError(f"A document must be an object, got {type(doc).__name__}")
    try:
        encoded = encode(dict(doc))
    except ValueEncodeError as exc:
        raise SchemaError(f"Document is not a valid Convex value: {exc}") from None
    if limits is None:
        return
    refusal = nesting_refusal(dict(doc), limits.document_depth) or size_refusal(
        "Document is", text_size(dumps(encoded)), limits.document_bytes
    )
    if refusal is not None:
        raise LimitExceeded(refusal)
