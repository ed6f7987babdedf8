"""Reads at one timestamp and write transactions of `PostgresStore`.

A transaction buffers its rows in memory and sends them in one statement:
when it commits, or earlier when it scans an index, so the scan sees its own
writes. All its reads go through the writer connection, which holds the
write lock for the whole transaction.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from typing import TYPE_CHECKING, Any

import asyncpg

from server.errors import DocumentNotFound
from server.store import postgres_ops as ops
from server.store.base import Commit, Document, IndexKeyChange, Order, Write
from server.store.catalog import (
    check_table_name,
    dump_document,
    load_document,
    merge_patch,
    present_fields,
    replace_fields,
    user_fields,
)
from server.store.ids import new_id
from server.store.keys import successor

if TYPE_CHECKING:
    from server.store.postgres import PostgresStore

__all__ = ["PostgresSnapshot", "PostgresTransaction"]

_FIRST_PAGE = 16
_MAX_PAGE = 256


class PostgresSnapshot:
    """Reads at one timestamp through the store's reader connections."""

    __slots__ = ("_store", "_ts")

    def __init__(self, store: PostgresStore, ts: int) -> None:
        self._store = store
        self._ts = ts

    @property
    def ts(self) -> int:
        return self._ts

    async def get(self, id: str) -> Document | None:
        async with self._store.reader() as conn:
            found = await ops.get_document(conn, id, self._ts)
        return None if found is None else load_document(found[1])

    async def scan(
        self, index: str, start: bytes, end: bytes | None, order: Order = "asc"
    ) -> AsyncIterator[tuple[bytes, Document]]:
        self._store.catalog.fields(index)  # raises SchemaError for an unknown index
        lo, hi, limit = start, end, _FIRST_PAGE
        while hi is None or lo < hi:
            rows = await self._read_page(index, lo, hi, order, limit)
            for key, deleted, value in rows:
                if not deleted and value is not None:
                    yield key, load_document(value)
            if len(rows) < limit:
                return
            # Resume past the last key; later pages grow, since the caller
            # evidently wants more than a few rows.
            if order == "asc":
                lo = successor(rows[-1][0])
            else:
                hi = rows[-1][0]
            limit = min(limit * 2, _MAX_PAGE)

    async def _read_page(
        self, index: str, lo: bytes, hi: bytes | None, order: Order, limit: int
    ) -> list[ops.PageRow]:
        async with self._store.reader() as conn:
            return await ops.read_page(conn, index, lo, hi, self._ts, order, limit)


class PostgresTransaction(PostgresSnapshot):
    """A write transaction at commit ts `ts`, on the writer connection, whose
    PostgreSQL transaction is already open and holds the write lock."""

    __slots__ = (
        "_conn",
        "_created",
        "_previous",
        "_doc_rows",
        "_index_rows",
        "_inserts",
        "_keys",
        "_results",
        "_touched",
    )

    def __init__(
        self, store: PostgresStore, conn: asyncpg.Connection, ts: int, previous: int
    ) -> None:
        super().__init__(store, ts)
        self._conn = conn
        self._previous = previous  # the newest commit of any node before this one
        self._inserts = 0
        self._created = 0  # _creationTime of the last insert, in ns
        # Pending rows; a later write of the same row replaces the earlier one.
        self._doc_rows: dict[str, ops.DocRow] = {}
        self._index_rows: dict[tuple[str, bytes], ops.IndexRow] = {}
        self._results: dict[tuple[str, int], ops.ResultRow] = {}
        # id -> (table, version before this transaction, current value JSON or None)
        self._touched: dict[str, tuple[str, Document | None, str | None]] = {}
        self._keys: dict[IndexKeyChange, None] = {}

    async def get(self, id: str) -> Document | None:
        touched = self._touched.get(id)
        if touched is not None:
            value = touched[2]
            return None if value is None else load_document(value)
        found = await ops.get_document(self._conn, id, self._ts)
        return None if found is None else load_document(found[1])

    async def _read_page(
        self, index: str, lo: bytes, hi: bytes | None, order: Order, limit: int
    ) -> list[ops.PageRow]:
        await self._flush()
        return await ops.read_page(self._conn, index, lo, hi, self._ts, order, limit)

    async def insert(self, table: str, value: Mapping[str, Any]) -> str:
        check_table_name(table)
        fields = present_fields(user_fields(value))
        doc_id = new_id(table)
        # Convex's _creationTime is ms. Each insert of a transaction (which may
        # hold a batch of mutations) is 1 us after the one before, so creation
        # order stays insertion order; the meta row's creation_floor starts
        # later commits above the last one.
        self._created = self._ts + 1_000 * self._inserts
        self._inserts += 1
        doc = {"_id": doc_id, "_creationTime": self._created / 1_000_000, **fields}
        self._record(table, doc_id, None, doc)
        return doc_id

    async def replace(self, id: str, value: Mapping[str, Any]) -> None:
        table, old = await self._existing(id)
        self._record(table, id, old, replace_fields(old, value))

    async def patch(self, id: str, fields: Mapping[str, Any]) -> None:
        table, old = await self._existing(id)
        self._record(table, id, old, merge_patch(old, fields))

    async def delete(self, id: str) -> None:
        table, old = await self._existing(id)
        self._record(table, id, old, None)

    async def record_mutation_result(
        self, session_id: str, request_id: int, result_json: str, fingerprint: str | None = None
    ) -> None:
        self._results[(session_id, request_id)] = (session_id, request_id, result_json, fingerprint)

    async def _existing(self, id: str) -> tuple[str, Document]:
        touched = self._touched.get(id)
        if touched is not None:
            table, _, value = touched
            found = None if value is None else (table, value)
        else:
            found = await ops.get_document(self._conn, id, self._ts)
        if found is None:
            raise DocumentNotFound(f"Update on nonexistent document ID {id}")
        return found[0], load_document(found[1])

    def _record(self, table: str, id: str, old: Document | None, new: Document | None) -> None:
        value = None if new is None else dump_document(new)
        self._doc_rows[id] = (id, table, value, new is None)
        catalog = self._store.catalog
        for (index, old_key), (_, new_key) in zip(
            catalog.keys(table, old), catalog.keys(table, new), strict=True
        ):
            self._index_change(index, id, old_key, new_key)
        first = self._touched.get(id)
        self._touched[id] = (table, old if first is None else first[1], value)

    def _index_change(self, index: str, id: str, old: bytes | None, new: bytes | None) -> None:
        # The sync layer invalidates on old and new keys even when they are equal:
        # the document's content changed under an unchanged key.
        for key in (old, new):
            if key is not None:
                self._keys[IndexKeyChange(index, key)] = None
        if old == new:
            return
        if old is not None:
            self._index_rows[(index, old)] = (index, old, id, True)
        if new is not None:
            self._index_rows[(index, new)] = (index, new, id, False)

    async def _flush(self) -> None:
        if not self._doc_rows and not self._index_rows:
            return
        docs, entries = self._take_rows()
        await ops.write_rows(self._conn, self._ts, docs, entries)

    def _take_rows(self) -> tuple[list[ops.DocRow], list[ops.IndexRow]]:
        docs, entries = list(self._doc_rows.values()), list(self._index_rows.values())
        self._doc_rows.clear()
        self._index_rows.clear()
        return docs, entries

    async def commit(self) -> Commit:
        """Send the remaining rows, the results and the meta row, and COMMIT."""
        docs, entries = self._take_rows()
        results = list(self._results.values())
        keys = tuple(self._keys)
        logged = [(change.index, change.key) for change in keys]
        await ops.commit(
            self._conn, self._ts, self._created, docs, entries, results, self._store.node, logged
        )
        return Commit(self._ts, self._writes(), keys, previous_ts=self._previous)

    def _writes(self) -> tuple[Write, ...]:
        # A document inserted and deleted again in one transaction changed nothing.
        return tuple(
            Write(table, id, old, None if value is None else load_document(value))
            for id, (table, old, value) in self._touched.items()
            if old is not None or value is not None
        )
