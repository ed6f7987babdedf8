"""`ctx.db` of a query: reads at one snapshot, recording each index interval it
depended on, within the execution's read budget."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

from protocol.values import dumps, encode
from server.errors import FunctionError, LimitExceeded
from server.functions.database.query import QueryBuilder
from server.functions.pagination import PageJournal
from server.functions.ranges import KeyInterval
from server.functions.readset import ReadSet
from server.functions.schema import Schema, system_index_fields
from server.functions.search import MAX_SEARCH_RESULTS, SearchFilter
from server.functions.timeouts import store_time
from server.store.base import Document, Order, SearchIndexDef, SearchRequest, Snapshot
from server.store.catalog import SYSTEM_TABLES
from server.store.ids import id_matches_table, is_id
from server.store.keys import doc_field_values, index_key, prefix_end, successor
from server.store.search_text import RankKey, ranked

__all__ = [
    "DatabaseReader",
    "MAX_DOCUMENTS_SCANNED",
    "PageScan",
    "ReadBudget",
    "TableCatalog",
    "fresh_copy",
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
        self._tables: dict[str, None] = dict.fromkeys((*tables, *sorted(SYSTEM_TABLES)))

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
        narrowed with `with_index`); system tables are readable too."""
        if not isinstance(table, str) or not table:
            raise FunctionError(f"Invalid table name {table!r}")
        if table.startswith("_") and table not in SYSTEM_TABLES:
            raise FunctionError(
                f"Invalid table name {table!r}: names starting with '_' are "
                f"system tables ({', '.join(sorted(SYSTEM_TABLES))})"
            )
        self._catalog.note(table)
        return QueryBuilder(self, table)

    @property
    def system(self) -> SystemReader:
        """`ctx.db.system`: reads of the system tables, as in Convex."""
        return SystemReader(self)

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

    def _search_index(self, table: str, index: str) -> SearchIndexDef:
        found = None if self._schema is None else self._schema.search_index(table, index)
        if found is None:
            raise FunctionError(
                f"Search index {table}.{index} not found. Define it in schema.py with "
                f'define_table(...).search_index("{index}", search_field=..., filter_fields=[...])'
            )
        return found

    async def _search(
        self, search: SearchFilter, keep: Callable[[Document], bool], limit: int | None
    ) -> list[Document]:
        """The documents matching `search` at the snapshot, most relevant
        first, that pass `keep`, up to `limit`."""
        if limit == 0:
            return []
        results, more = await self._search_results(search)
        docs: list[Document] = []
        for _, doc in results:
            if self._read_result(search, doc, keep):
                docs.append(fresh_copy(doc))
                if limit is not None and len(docs) >= limit:
                    return docs
        if more:
            raise LimitExceeded(
                f"Search query read more than {MAX_SEARCH_RESULTS} results from search index "
                f"{search.index.name}. Use take(n), or narrow the search with eq() filters or "
                "more words."
            )
        return docs

    async def _search_page(
        self,
        search: SearchFilter,
        keep: Callable[[Document], bool],
        after: RankKey | None,
        upto: RankKey | None,
        count: int | None,
    ) -> tuple[list[Document], RankKey | None, bool]:
        """The results of `search` after `after` (None: from the first) up
        to and including `upto` (None: no end), at most `count` of them
        passing `keep`. Returns (documents, key of the last result read,
        whether the results ran out). A search pages through its first
        `MAX_SEARCH_RESULTS` results only, as in Convex."""
        results, _ = await self._search_results(search)
        first = 0 if after is None else _boundary(results, after)
        stop = len(results) if upto is None else _boundary(results, upto)
        docs: list[Document] = []
        last: RankKey | None = None
        for n in range(first, stop):
            last, doc = results[n]
            if self._read_result(search, doc, keep):
                docs.append(fresh_copy(doc))
                if count is not None and len(docs) >= count:
                    return docs, last, n == len(results) - 1
        return docs, last, stop == len(results)

    async def _search_results(
        self, search: SearchFilter
    ) -> tuple[list[tuple[RankKey, Document]], bool]:
        """Every match of `search`, ranked (at most `MAX_SEARCH_RESULTS`), and
        whether there were more.

        Read set: the search index's key range that the leading `eq` filters
        fix (any write changing what the index holds of a document in it,
        which may change every score, re-runs the query); `_read_result`
        adds each result's document.
        """
        index, terms = search.index, search.terms
        if terms.empty:
            return [], False  # no words: nothing matches, whatever the data
        prefix = search.key_prefix()
        self._read_set.add(index.name, prefix, prefix_end(prefix) if prefix else None)
        assert terms.prefix is not None
        # One more than the limit tells "exactly 1024" from "more than that".
        request = SearchRequest(
            index.name, terms.exact, terms.prefix, search.encoded_filters(), MAX_SEARCH_RESULTS + 1
        )
        with store_time():
            candidates = await self._snapshot.search(request)
        more = len(candidates) > MAX_SEARCH_RESULTS
        candidates = candidates[:MAX_SEARCH_RESULTS]
        texts = [doc_field_values(doc, (index.search_field,))[0] for doc in candidates]
        return ranked(candidates, texts, terms), more

    def _read_result(
        self, search: SearchFilter, doc: Document, keep: Callable[[Document], bool]
    ) -> bool:
        """Count one search result as read (its `by_id` key joins the read
        set: a change to another of its fields, which `keep` may look at,
        re-runs the query); whether it passes `keep`."""
        self._budget.charge()
        key = index_key((), doc["_id"])
        self._read_set.add(f"{search.index.table}.by_id", key, successor(key))
        return keep(doc)

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


class SystemReader:
    """`ctx.db.system.get(id)` and `ctx.db.system.query(table)`: the system
    tables (`_scheduled_functions`, `_cron_jobs`), read and subscribed to
    like any other."""

    __slots__ = ("_db",)

    def __init__(self, db: DatabaseReader) -> None:
        self._db = db

    async def get(self, id: str) -> Document | None:
        for table in sorted(SYSTEM_TABLES):
            if id_matches_table(id, table):
                return await self._db.get(table, id)
        if not is_id(id):
            raise FunctionError(f"Invalid argument `id` for `db.system.get`: {id!r} is not an id")
        return None

    def query(self, table: str) -> QueryBuilder:
        if table not in SYSTEM_TABLES:
            raise FunctionError(
                f"db.system.query reads the system tables ({', '.join(sorted(SYSTEM_TABLES))}), "
                f"not {table!r}"
            )
        return self._db.query(table)


def _boundary(results: list[tuple[RankKey, Document]], key: RankKey) -> int:
    """How many of the ranked `results` come up to and including `key`, a
    cursor's result. Scores move as the data does (every score depends on
    every match), so the cursor's document, where it still matches, is the
    boundary wherever it now ranks; otherwise its old key is."""
    for n, (at, _) in enumerate(results):
        if at[2] == key[2]:
            return n + 1
    return sum(1 for at, _ in results if at >= key)
