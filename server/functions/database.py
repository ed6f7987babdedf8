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
from typing import Any

from protocol.errors import ValueEncodeError
from protocol.values import encode
from server.errors import DocumentNotFound, FunctionError, LimitExceeded, SchemaError
from server.functions.filters import Expression, FilterBuilder, compile_filter
from server.functions.pagination import PaginationOptions, encode_cursor
from server.functions.ranges import KeyInterval, interval_for
from server.functions.readset import ReadSet
from server.functions.schema import Schema, system_index_fields
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
    ) -> None:
        self._snapshot = snapshot
        self._read_set = read_set
        self._schema = schema
        self._catalog = catalog if catalog is not None else TableCatalog()
        self._budget = budget if budget is not None else ReadBudget()

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
        kept: list[Document] = []
        last: bytes | None = None
        exhausted = False
        if limit == 0 or interval.is_empty:
            return kept, None, interval.is_empty
        rows: AsyncIterator[tuple[bytes, Document]] = self._snapshot.scan(
            index, interval.start, interval.end, order
        )
        try:
            async for key, doc in rows:
                last = key
                self._budget.charge()
                if keep(doc):
                    kept.append(fresh_copy(doc))
                    if limit is not None and len(kept) >= limit:
                        break
            else:
                exhausted = True
        finally:
            await _close(rows)
            self._record(index, interval, order, last, exhausted)
        return kept, last, exhausted

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
        """`{"page": [...], "isDone": bool, "continueCursor": str}` for the page
        after `options["cursor"]` (None: the first page)."""
        opts = PaginationOptions.parse(options)
        interval = self._interval()
        if opts.cursor is not None:
            if self._direction == "asc":
                interval = KeyInterval(max(interval.start, successor(opts.cursor)), interval.end)
            else:
                end = opts.cursor if interval.end is None else min(interval.end, opts.cursor)
                interval = KeyInterval(interval.start, end)
        docs, last, exhausted = await self._run(opts.num_items, interval)
        # Nothing consumed: the next page starts where this one did.
        cursor = encode_cursor(last if last is not None else opts.cursor)
        return {"page": docs, "isDone": exhausted, "continueCursor": cursor}

    @property
    def _direction(self) -> Order:
        return self._order or "asc"

    def _interval(self) -> KeyInterval:
        fields = self._db._index_fields(self._table, self._index)
        return interval_for(f"{self._table}.{self._index}", fields, self._range)

    async def _run(
        self, limit: int | None, interval: KeyInterval
    ) -> tuple[list[Document], bytes | None, bool]:
        filters = self._filters

        def keep(doc: Document) -> bool:
            return all(expression.evaluate(doc) is True for expression in filters)

        return await self._db._scan(
            f"{self._table}.{self._index}", interval, self._direction, keep, limit
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
    ) -> None:
        super().__init__(transaction, read_set, schema=schema, catalog=catalog, budget=budget)
        self._tx = transaction

    async def insert(self, table: str, doc: Mapping[str, Any]) -> str:
        """Insert `doc` (user fields only) into `table`; returns its `_id`."""
        if not isinstance(table, str) or not table or table.startswith("_"):
            raise FunctionError(f"Invalid table name {table!r}")
        _check_document(doc)
        doc = self._validate(table, doc)
        doc_id = await self._tx.insert(table, doc)
        self._catalog.note(table)
        return doc_id

    async def patch(self, id: str, fields: Mapping[str, Any]) -> None:
        """Shallow-merge `fields` into the document."""
        old = await self._existing(id, "patch")
        _check_document(fields)
        merged = {**_user_fields(old), **_user_fields(fields)}
        checked = self._validate_id(id, merged)
        await self._tx.patch(id, {name: checked.get(name, value) for name, value in fields.items()})

    async def replace(self, id: str, doc: Mapping[str, Any]) -> None:
        """Replace every user field of the document with `doc`."""
        await self._existing(id, "replace")
        _check_document(doc)
        checked = self._validate_id(id, _user_fields(doc))
        await self._tx.replace(id, {**doc, **checked})

    async def delete(self, id: str) -> None:
        await self._existing(id, "delete")
        await self._tx.delete(id)

    async def _existing(self, id: str, verb: str) -> Document:
        if not is_id(id):
            raise FunctionError(f"Invalid argument `id` for `db.{verb}`: {id!r} is not an id")
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


def _check_document(doc: Any) -> None:
    if not isinstance(doc, Mapping):
        raise SchemaError(f"A document must be an object, got {type(doc).__name__}")
    try:
        encode(dict(doc))
    except ValueEncodeError as exc:
        raise SchemaError(f"Document is not a valid Convex value: {exc}") from None
