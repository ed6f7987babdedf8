"""The SQLite backend: aiosqlite, WAL, one writer connection, two readers.

Theory of operation. Every write runs under one asyncio lock on the writer
connection, so commits are serial and each gets `ts = max(clock(),
latest_ts + 1)`; `latest_ts` is stored in the same transaction, so it keeps
growing across restarts even if the clock goes back. A transaction buffers
its rows in memory and sends them in one batch: when it commits, or earlier
when it scans an index (so the scan sees its own writes). The batch opens the
SQLite transaction with `BEGIN IMMEDIATE`; reads before it need no SQLite
transaction because no one else writes. `latest_ts` moves only after COMMIT
returns, and every snapshot read filters on `ts <= snapshot ts`, so a reader
can never see a commit in progress, even on the writer's own connection.

Each SQL step is a synchronous function in `server.store.sqlite_ops`, run on
the aiosqlite connection's thread through `server.store.aiosqlite_hop.run`, so
a whole commit costs one thread hop.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, Concatenate, ParamSpec, TypeVar

import aiosqlite

from server.errors import ConfigError, DocumentNotFound, StoreError
from server.store import sqlite_ops as ops
from server.store.aiosqlite_hop import run
from server.store.base import (
    Commit,
    Document,
    IndexDef,
    IndexKeyChange,
    LegacyNumbers,
    Order,
    Transaction,
    Write,
)
from server.store.catalog import (
    IndexCatalog,
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

__all__ = ["SqliteStore"]

_log = logging.getLogger("livesync.store")

P = ParamSpec("P")
T = TypeVar("T")

_FIRST_PAGE = 16
_MAX_PAGE = 256
_READERS = 2
_MEMORY = ":memory:"


class SqliteStore:
    """A `Store` in one SQLite file (or in memory, for tests: `":memory:"`)."""

    def __init__(
        self,
        path: str | Path,
        *,
        synchronous: str = "NORMAL",
        clock: Callable[[], int] = time.time_ns,
    ) -> None:
        if synchronous.upper() not in ops.SYNCHRONOUS_MODES:
            raise ConfigError(f"synchronous must be one of {', '.join(ops.SYNCHRONOUS_MODES)}")
        self._path = str(path)
        self._synchronous = synchronous
        self._clock = clock
        self._latest_ts = 0
        # _creationTime of the last insert, in ns: later commits start above it.
        self._creation_floor = 0
        self._catalog = IndexCatalog()
        self._writer: aiosqlite.Connection | None = None
        self._readers: list[aiosqlite.Connection] = []
        self._idle: asyncio.Queue[aiosqlite.Connection] = asyncio.Queue()
        self._write_lock = asyncio.Lock()

    @property
    def latest_ts(self) -> int:
        return self._latest_ts

    @property
    def catalog(self) -> IndexCatalog:
        """The indexes in force since `open`."""
        return self._catalog

    async def open(
        self, indexes: Sequence[IndexDef], legacy_numbers: LegacyNumbers | None = None
    ) -> None:
        catalog = IndexCatalog(indexes)
        self._writer = await self._connect(writer=True)
        try:
            await self._prepare(catalog, legacy_numbers)
        except BaseException:
            # Close the connections' threads, or they keep the process alive.
            await self.close()
            raise
        _log.info("store.opened path=%s latest_ts=%d", self._path, self._latest_ts)

    async def _prepare(self, catalog: IndexCatalog, legacy_numbers: LegacyNumbers | None) -> None:
        assert self._writer is not None
        await run(self._writer, ops.create_schema)
        self._latest_ts, stored, value_format = await run(self._writer, ops.load_meta)
        # Inserts of one transaction step _creationTime by 1 us from its ts; a
        # millisecond of headroom covers any transaction before the restart.
        self._creation_floor = self._latest_ts + 1_000_000 if self._latest_ts else 0
        previous = IndexCatalog.from_json(stored)
        if stored is None or previous.defs != catalog.defs:
            added, removed = await run(self._writer, ops.migrate_indexes, previous, catalog)
            if added or removed:
                _log.info("store.indexes.migrated added=%s removed=%s", added, removed)
        if value_format < ops.VALUE_FORMAT:
            rewritten = await run(self._writer, ops.upgrade_numbers, catalog, legacy_numbers)
            _log.info("store.values.upgraded format=%d rewritten=%d", ops.VALUE_FORMAT, rewritten)
        self._catalog = catalog
        await self._open_readers()

    async def _connect(self, *, writer: bool) -> aiosqlite.Connection:
        try:
            conn = await aiosqlite.connect(self._path, isolation_level=None)
        except sqlite3.Error as exc:
            raise StoreError(f"Cannot open SQLite database {self._path}: {exc}") from exc
        try:
            await run(conn, ops.configure, self._synchronous, writer)
        except BaseException:
            await conn.close()
            raise
        return conn

    async def _open_readers(self) -> None:
        assert self._writer is not None
        if self._path == _MEMORY:
            # Every connection to ":memory:" is its own database, so the writer
            # also reads; the ts filter hides its uncommitted rows.
            self._idle.put_nowait(self._writer)
            return
        for _ in range(_READERS):
            reader = await self._connect(writer=False)
            self._readers.append(reader)
            self._idle.put_nowait(reader)

    async def close(self) -> None:
        for conn in self._readers:
            await conn.close()
        self._readers.clear()
        self._idle = asyncio.Queue()
        if self._writer is not None:
            async with self._write_lock:
                await self._writer.close()
            self._writer = None
        _log.info("store.closed path=%s", self._path)

    def snapshot(self, ts: int | None = None) -> _Snapshot:
        if ts is None:
            ts = self._latest_ts
        if ts > self._latest_ts:
            raise ValueError(f"snapshot ts {ts} is after the latest commit {self._latest_ts}")
        return _Snapshot(self, ts)

    @asynccontextmanager
    async def _reader(self) -> AsyncIterator[aiosqlite.Connection]:
        if self._writer is None:
            raise StoreError("The store is not open")
        conn = await self._idle.get()
        try:
            yield conn
        finally:
            self._idle.put_nowait(conn)

    async def read(
        self,
        fn: Callable[Concatenate[sqlite3.Connection, P], T],
        *args: P.args,
        **kwargs: P.kwargs,
    ) -> T:
        """Run a read-only `sqlite_ops` function on an idle reader connection."""
        async with self._reader() as conn:
            return await run(conn, fn, *args, **kwargs)

    async def write(self, fn: Callable[[Transaction], Awaitable[T]]) -> tuple[T, Commit]:
        async with self._write_lock:
            writer = self._writer
            if writer is None:
                raise StoreError("The store is not open")
            ts = max(self._clock(), self._latest_ts + 1, self._creation_floor + 1)
            tx = _Transaction(self, writer, ts)
            try:
                result = await fn(tx)
            except BaseException:
                await tx.abort()
                raise
            commit = await self._finish(tx)
        return result, commit

    async def _finish(self, tx: _Transaction) -> Commit:
        # If the caller is cancelled while COMMIT runs on the thread, wait for
        # it anyway: a commit that landed must move latest_ts, or the next
        # transaction could reuse its ts.
        task = asyncio.ensure_future(tx.commit())
        try:
            commit = await asyncio.shield(task)
        except asyncio.CancelledError:
            commit = await task
            self._latest_ts = commit.ts
            raise
        self._latest_ts = commit.ts
        return commit

    async def get_mutation_result(
        self, session_id: str, request_id: int
    ) -> tuple[int, str, str | None] | None:
        return await self.read(ops.get_mutation_result, session_id, request_id, self._latest_ts)

    async def prune_mutation_results(self, before_ts: int) -> int:
        """Delete the results of mutations committed before `before_ts`:
        retries of those run as new requests. Returns how many went."""
        async with self._write_lock:
            if self._writer is None:
                raise StoreError("The store is not open")
            deleted = await run(self._writer, ops.prune_mutation_results, before_ts)
        _log.info("store.mutation_results.pruned before_ts=%d rows=%d", before_ts, deleted)
        return deleted

    async def vacuum_before(self, ts: int) -> int:
        """Delete history that no snapshot at `ts` or later can see; returns
        the number of rows deleted. Call it only with a `ts` no older than any
        snapshot still in use."""
        async with self._write_lock:
            if self._writer is None:
                raise StoreError("The store is not open")
            deleted = await run(self._writer, ops.vacuum, min(ts, self._latest_ts))
        _log.info("store.vacuumed before_ts=%d rows=%d", ts, deleted)
        return deleted


class _Snapshot:
    """Reads at one timestamp through the store's reader connections."""

    __slots__ = ("_store", "_ts")

    def __init__(self, store: SqliteStore, ts: int) -> None:
        self._store = store
        self._ts = ts

    @property
    def ts(self) -> int:
        return self._ts

    async def get(self, id: str) -> Document | None:
        found = await self._store.read(ops.get_document, id, self._ts)
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
        return await self._store.read(ops.read_page, index, lo, hi, self._ts, order, limit)


class _Transaction(_Snapshot):
    """A write transaction at commit ts `ts`, on the writer connection."""

    __slots__ = (
        "_begun",
        "_conn",
        "_doc_rows",
        "_index_rows",
        "_inserts",
        "_keys",
        "_results",
        "_touched",
    )

    def __init__(self, store: SqliteStore, conn: aiosqlite.Connection, ts: int) -> None:
        super().__init__(store, ts)
        self._inserts = 0
        self._conn = conn
        self._begun = False
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
        return await super().get(id)

    async def _read_page(
        self, index: str, lo: bytes, hi: bytes | None, order: Order, limit: int
    ) -> list[ops.PageRow]:
        await self._flush()
        return await run(self._conn, ops.read_page, index, lo, hi, self._ts, order, limit)

    async def insert(self, table: str, value: Mapping[str, Any]) -> str:
        check_table_name(table)
        fields = present_fields(user_fields(value))
        doc_id = new_id(table)
        # Convex's _creationTime is ms. Each insert of a transaction (which may
        # hold a batch of mutations) is 1 us after the one before, so creation
        # order stays insertion order; the store starts later commits above.
        created = self._ts + 1_000 * self._inserts
        self._inserts += 1
        self._store._creation_floor = max(self._store._creation_floor, created)
        doc = {"_id": doc_id, "_creationTime": created / 1_000_000, **fields}
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
        self._results[(session_id, request_id)] = (
            session_id,
            request_id,
            self._ts,
            result_json,
            fingerprint,
        )

    async def _existing(self, id: str) -> tuple[str, Document]:
        touched = self._touched.get(id)
        if touched is not None:
            table, _, value = touched
            found = None if value is None else (table, value)
        else:
            found = await run(self._conn, ops.get_document, id, self._ts)
        if found is None:
            raise DocumentNotFound(f"Update on nonexistent document ID {id}")
        return found[0], load_document(found[1])

    def _record(self, table: str, id: str, old: Document | None, new: Document | None) -> None:
        value = None if new is None else dump_document(new)
        self._doc_rows[id] = (id, self._ts, table, value, int(new is None))
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
            self._index_rows[(index, old)] = (index, old, self._ts, id, 1)
        if new is not None:
            self._index_rows[(index, new)] = (index, new, self._ts, id, 0)

    async def _flush(self) -> None:
        if not self._doc_rows and not self._index_rows:
            return
        docs, entries = self._take_rows()
        begin, self._begun = not self._begun, True
        # Marked begun first: if this await is cancelled (a timed-out
        # mutation), the thread still runs BEGIN, and abort() must roll back.
        await run(self._conn, ops.write_rows, begin, docs, entries)

    def _take_rows(self) -> tuple[list[ops.DocRow], list[ops.IndexRow]]:
        docs, entries = list(self._doc_rows.values()), list(self._index_rows.values())
        self._doc_rows.clear()
        self._index_rows.clear()
        return docs, entries

    async def commit(self) -> Commit:
        docs, entries = self._take_rows()
        results = list(self._results.values())
        await run(self._conn, ops.commit, not self._begun, docs, entries, results, self._ts)
        return Commit(ts=self._ts, writes=self._writes(), keys=tuple(self._keys))

    async def abort(self) -> None:
        if not self._begun:
            return
        try:
            await run(self._conn, ops.rollback)
        except StoreError:
            _log.exception("store.rollback.failed ts=%d", self._ts)

    def _writes(self) -> tuple[Write, ...]:
        # A document inserted and deleted again in one transaction changed nothing.
        return tuple(
            Write(table, id, old, None if value is None else load_document(value))
            for id, (table, old, value) in self._touched.items()
            if old is not None or value is not None
        )
