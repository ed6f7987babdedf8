"""The write buffer of a transaction, common to every backend.

A transaction keeps its writes in memory as pending rows (a later write of
the same row replaces the earlier one), the documents it touched and the
index keys it changed, and sends the rows in one batch when it commits. Its
reads see its own writes without sending them first: a document it touched
comes from the buffer, and an index page read from the database is merged
with the buffered index keys in that page's range. So a group of mutations
in one transaction costs no round trip per mutation beyond its own reads.
From what it buffered it computes the commit's `Write`s and `IndexKeyChange`s.

A backend's transaction supplies the shape of its rows (`_doc_row`,
`_index_row`, `_result_row`) and the round trips on its connection:
`_read_own_page` and `_search_own` (reads of what was committed before it;
a document's stored row comes from the snapshot's `_get_row`) and
`_commit_rows` (the rows, the results and COMMIT).

The first insert into an app table also inserts the table's document in
the catalog of table names (`catalog.TABLES`), in the same transaction. The
store keeps the names it knows to be catalogued (`known_tables`), so an
insert into one of those costs a set lookup; on a miss the transaction reads
the catalog's index by name. A name the transaction catalogued itself joins
the store's set only once its commit has landed: a failed transaction (a
whole group of mutations rolls back when one of them fails, see
`server.sync.committer`) must leave no name behind that it never wrote.
Writers are serial (on PostgreSQL across nodes too, under the advisory
lock), so the read sees every entry committed and none is written twice.

Search indexes (`server.store.search_index`) get a row only when a write
changes what the index holds of a document, compared with the version
before the transaction: a patch of another field writes none, so searches
are not disturbed by it (the document's `by_id` key still changes).
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Mapping, Sequence
from operator import itemgetter
from typing import Any, Generic, Protocol, TypeVar

from server.errors import DocumentNotFound, SchemaError
from server.store.base import (
    Commit,
    Document,
    IndexKeyChange,
    Order,
    SearchIndexDef,
    SearchRequest,
    Write,
)
from server.store.catalog import (
    SYSTEM_TABLES,
    TABLES,
    TABLES_BY_NAME,
    IndexCatalog,
    check_table_name,
    dump_document,
    load_document,
    merge_patch,
    present_fields,
    replace_fields,
    user_fields,
)
from server.store.ids import id_matches_table, new_id
from server.store.keys import encode_tuple, prefix_end
from server.store.paging import PagedSnapshot, PageRow
from server.store.search_index import SearchRow, entry_for, entry_matches

__all__ = ["BufferedTransaction"]

D = TypeVar("D")  # a pending document row
E = TypeVar("E")  # a pending index entry row
R = TypeVar("R")  # a pending mutation result row


class _WriteStore(Protocol):
    @property
    def catalog(self) -> IndexCatalog: ...

    @property
    def known_tables(self) -> set[str]: ...


S = TypeVar("S", bound=_WriteStore)


class BufferedTransaction(PagedSnapshot[S], Generic[S, D, E, R]):
    """A write transaction at commit ts `ts` that buffers its rows."""

    __slots__ = (
        "_catalogued",
        "_created",
        "_doc_rows",
        "_index_rows",
        "_inserts",
        "_keys",
        "_previous",
        "_results",
        "_rows_read",
        "_search_pending",
        "_sorted",
        "_touched",
        "_view",
    )

    def __init__(self, store: S, ts: int, previous: int = 0) -> None:
        super().__init__(store, ts)
        self._previous = previous  # the newest commit of any node before this one
        self._inserts = 0
        self._created = 0  # the latest _creationTime of its inserts, in ns
        # Pending rows; a later write of the same row replaces the earlier one.
        self._doc_rows: dict[str, D] = {}
        self._index_rows: dict[tuple[str, bytes], E] = {}
        self._results: dict[tuple[str, int], R] = {}
        self._search_pending: dict[tuple[str, str], SearchRow] = {}
        # id -> (table, version before this transaction, current value JSON or None)
        self._touched: dict[str, tuple[str, Document | None, str | None]] = {}
        self._keys: dict[IndexKeyChange, None] = {}
        self._rows_read: dict[str, tuple[str, str] | None] = {}  # id -> stored row
        # The index keys this transaction wrote: (index, key) -> the id of the
        # document the key now holds (its value is in _touched), or None when
        # the key holds nothing any more; and each index's keys, sorted.
        self._view: dict[tuple[str, bytes], str | None] = {}
        self._sorted: dict[str, list[bytes]] = {}
        self._catalogued: set[str] = set()  # tables this transaction catalogued

    # What a backend supplies.

    def _doc_row(self, id: str, table: str, value: str | None, deleted: bool) -> D:
        raise NotImplementedError

    def _index_row(self, index: str, key: bytes, id: str, deleted: bool) -> E:
        raise NotImplementedError

    def _result_row(
        self, session_id: str, request_id: int, result_json: str, fingerprint: str | None
    ) -> R:
        raise NotImplementedError

    def _creation_time(self, created: int) -> None:
        """Told the `_creationTime` (ns) of each insert, before its rows."""

    async def _read_own_page(
        self, index: str, lo: bytes, hi: bytes | None, order: Order, limit: int
    ) -> Sequence[PageRow]:
        """`_read_page` on the transaction's own connection."""
        raise NotImplementedError

    async def _search_own(self, request: SearchRequest) -> Sequence[str]:
        """`_search_rows` on the transaction's own connection."""
        raise NotImplementedError

    async def _stored_tables(self) -> list[str]:
        """The tables with a document committed before this transaction."""
        raise NotImplementedError

    async def _commit_rows(
        self, docs: list[D], entries: list[E], results: list[R], searches: list[SearchRow]
    ) -> None:
        """Send the rows and the results, record the commit (its index keys
        are `_keys`), and COMMIT."""
        raise NotImplementedError

    # The buffer.

    async def get(self, id: str) -> Document | None:
        touched = self._touched.get(id)
        if touched is not None:
            value = touched[2]
            return None if value is None else load_document(value)
        found = await self._stored_row(id)
        return None if found is None else load_document(found[1])

    async def _stored_row(self, id: str) -> tuple[str, str] | None:
        # Read once per transaction: nothing else writes while it holds the
        # write lock, and its own writes are looked up first (`_touched`).
        # On SQLite this reads through the readers, which see every commit:
        # reads on the writer connection outside a transaction hung now and
        # then under load (tests/server/scheduler, found, not explained).
        if id in self._rows_read:
            return self._rows_read[id]
        found = await self._get_row(id)
        self._rows_read[id] = found
        return found

    async def _read_page(
        self, index: str, lo: bytes, hi: bytes | None, order: Order, limit: int
    ) -> Sequence[PageRow]:
        rows = await self._read_own_page(index, lo, hi, order, limit)
        written = self._sorted.get(index)
        if not written:
            return rows
        start = bisect.bisect_left(written, lo)
        stop = len(written) if hi is None else bisect.bisect_left(written, hi)
        if len(rows) == limit:
            # A full page covers its range only up to its last key; the
            # scan's next page starts past it.
            if order == "asc":
                stop = min(stop, bisect.bisect_right(written, rows[-1][0]))
            else:
                start = max(start, bisect.bisect_left(written, rows[-1][0]))
        if start >= stop:
            return rows
        merged = {row[0]: row for row in rows}
        for key in written[start:stop]:
            id = self._view[(index, key)]
            merged[key] = (key, True, None) if id is None else (key, False, self._touched[id][2])
        return sorted(merged.values(), key=itemgetter(0), reverse=order == "desc")

    async def search(self, request: SearchRequest) -> Sequence[Document]:
        # Documents whose entry this transaction rewrote are newest (its ts),
        # so they come first; the others come from the database, with the
        # value this transaction gave them if it wrote another field.
        index = self._store.catalog.search_index(request.index)
        rewritten = {id for idx, id in self._search_pending if idx == index.name}
        own = []
        for id in sorted(rewritten, reverse=True):
            value = self._touched[id][2]
            doc = None if value is None else load_document(value)
            entry = entry_for(index, doc)
            if doc is not None and entry is not None and entry_matches(entry, request):
                own.append(doc)
        if len(own) >= request.limit:
            return own[: request.limit]
        wider = SearchRequest(
            request.index,
            request.exact,
            request.prefix,
            request.filters,
            request.limit + len(rewritten),
        )
        found = list(own)
        for value in await self._search_own(wider):
            doc = load_document(value)
            id = doc["_id"]
            if id in rewritten:
                continue
            touched = self._touched.get(id)
            if touched is not None and touched[2] is not None:
                doc = load_document(touched[2])
            found.append(doc)
        return found[: request.limit]

    async def insert(
        self,
        table: str,
        value: Mapping[str, Any],
        *,
        system: bool = False,
        id: str | None = None,
        creation_time: float | None = None,
    ) -> str:
        check_table_name(table, system=system)
        fields = present_fields(user_fields(value))
        if id is not None and (not system or not id_matches_table(id, table)):
            raise SchemaError(f"{id!r} is not an id made for {table}")
        if creation_time is not None and not system:
            raise SchemaError("Only the server sets _creationTime")
        doc_id = new_id(table) if id is None else id
        if creation_time is None:
            # Convex's _creationTime is ms. Each insert of a transaction (which may
            # hold a batch of mutations) is 1 us after the one before, so creation
            # order stays insertion order; the store starts later commits above.
            created = self._ts + 1_000 * self._inserts
            self._inserts += 1
            creation_time = created / 1_000_000
        else:
            # Kept from an export: later commits must still start above it, by
            # a step a float of ms can tell apart (a few hundred ns today).
            created = math.ceil(creation_time * 1_000_000) + 1_000
        self._created = max(self._created, created)
        self._creation_time(self._created)
        doc = {"_id": doc_id, "_creationTime": creation_time, **fields}
        self._record(table, doc_id, None, doc)
        if table not in SYSTEM_TABLES and table not in self._store.known_tables:
            await self.catalogue(table)
        return doc_id

    async def catalogue(self, table: str) -> None:
        """List the app table `table` in the catalog of table names, unless
        it is listed already: on a name the store does not know, one read."""
        known = self._store.known_tables
        if table in known or table in self._catalogued:
            return
        start = encode_tuple([table])
        async for _ in self.scan(TABLES_BY_NAME, start, prefix_end(start)):
            known.add(table)  # committed (this transaction's own are in _catalogued)
            return
        await self.insert(TABLES, {"name": table}, system=True)
        self._catalogued.add(table)

    async def catalogue_stored_tables(self) -> int:
        """`catalogue` every app table with a document committed (the
        catalog of a database from before there was one); returns how many
        tables there are."""
        tables = [table for table in await self._stored_tables() if table not in SYSTEM_TABLES]
        for table in tables:
            await self.catalogue(table)
        return len(tables)

    async def replace(self, id: str, value: Mapping[str, Any], *, system: bool = False) -> None:
        table, old = await self._existing(id, system)
        self._record(table, id, old, replace_fields(old, value))

    async def patch(self, id: str, fields: Mapping[str, Any], *, system: bool = False) -> None:
        table, old = await self._existing(id, system)
        self._record(table, id, old, merge_patch(old, fields))

    async def delete(self, id: str, *, system: bool = False) -> None:
        table, old = await self._existing(id, system)
        self._record(table, id, old, None)

    async def record_mutation_result(
        self, session_id: str, request_id: int, result_json: str, fingerprint: str | None = None
    ) -> None:
        row = self._result_row(session_id, request_id, result_json, fingerprint)
        self._results[(session_id, request_id)] = row

    async def _existing(self, id: str, system: bool) -> tuple[str, Document]:
        touched = self._touched.get(id)
        if touched is not None:
            table, _, value = touched
            found = None if value is None else (table, value)
        else:
            found = await self._stored_row(id)
        if found is None:
            raise DocumentNotFound(f"Update on nonexistent document ID {id}")
        check_table_name(found[0], system=system)
        return found[0], load_document(found[1])

    def _record(self, table: str, id: str, old: Document | None, new: Document | None) -> None:
        value = None if new is None else dump_document(new)
        self._doc_rows[id] = self._doc_row(id, table, value, new is None)
        catalog = self._store.catalog
        for (index, old_key), (_, new_key) in zip(
            catalog.keys(table, old), catalog.keys(table, new), strict=True
        ):
            self._index_change(index, id, old_key, new_key)
        first = self._touched.get(id)
        original = old if first is None else first[1]
        self._touched[id] = (table, original, value)
        for search in catalog.search_indexes_of(table):
            self._search_change(search, id, original, old, new)

    def _search_change(
        self,
        index: SearchIndexDef,
        id: str,
        original: Document | None,
        old: Document | None,
        new: Document | None,
    ) -> None:
        before, now = entry_for(index, old), entry_for(index, new)
        if before != now:
            for entry in (before, now):
                if entry is not None:
                    self._keys[IndexKeyChange(index.name, entry.key)] = None
        if entry_for(index, original) == now:
            self._search_pending.pop((index.name, id), None)  # back to what is stored
        elif now is None:
            self._search_pending[(index.name, id)] = (index.name, id, True, "[]", "")
        else:
            self._search_pending[(index.name, id)] = (index.name, id, False, now.filters, now.terms)

    def _index_change(self, index: str, id: str, old: bytes | None, new: bytes | None) -> None:
        # The sync layer invalidates on old and new keys even when they are equal:
        # the document's content changed under an unchanged key.
        for key in (old, new):
            if key is not None:
                self._keys[IndexKeyChange(index, key)] = None
        if new is not None:
            self._see(index, new, id)
        if old == new:
            return
        if old is not None:
            self._index_rows[(index, old)] = self._index_row(index, old, id, True)
            self._see(index, old, None)
        if new is not None:
            self._index_rows[(index, new)] = self._index_row(index, new, id, False)

    def _see(self, index: str, key: bytes, id: str | None) -> None:
        if (index, key) not in self._view:
            bisect.insort(self._sorted.setdefault(index, []), key)
        self._view[(index, key)] = id

    async def commit(self) -> Commit:
        """Send the rows and the results, and COMMIT."""
        docs, entries = list(self._doc_rows.values()), list(self._index_rows.values())
        searches = list(self._search_pending.values())
        await self._commit_rows(docs, entries, list(self._results.values()), searches)
        self._store.known_tables.update(self._catalogued)  # now durable
        return Commit(self._ts, self._writes(), tuple(self._keys), previous_ts=self._previous)

    def _writes(self) -> tuple[Write, ...]:
        # A document inserted and deleted again in one transaction changed nothing.
        return tuple(
            Write(table, id, old, None if value is None else load_document(value))
            for id, (table, old, value) in self._touched.items()
            if old is not None or value is not None
        )
