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
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Concatenate, ParamSpec, TypeVar

import aiosqlite

from server.errors import ConfigError, StoreError
from server.store import sqlite_ops as ops
from server.store.aiosqlite_hop import run
from server.store.base import (
    Commit,
    IndexDef,
    LegacyNumbers,
    SearchIndexDef,
    StoredResult,
    Transaction,
)
from server.store.catalog import VALUE_FORMAT, IndexCatalog
from server.store.core import StoreCore, fill_table_catalog, migrate_indexes
from server.store.file_lock import FileLock
from server.store.sqlite_tx import SqliteSnapshot, SqliteTransaction

__all__ = ["SqliteStore"]

_log = logging.getLogger("livesync.store")

P = ParamSpec("P")
T = TypeVar("T")

_READERS = 2
_MEMORY = ":memory:"


class SqliteStore(StoreCore):
    """A `Store` in one SQLite file (or in memory, for tests: `":memory:"`)."""

    def __init__(
        self,
        path: str | Path,
        *,
        synchronous: str = "NORMAL",
        clock: Callable[[], int] = time.time_ns,
        read_only: bool = False,
    ) -> None:
        if synchronous.upper() not in ops.SYNCHRONOUS_MODES:
            raise ConfigError(f"synchronous must be one of {', '.join(ops.SYNCHRONOUS_MODES)}")
        super().__init__()
        self._path = str(path)
        self._synchronous = synchronous
        self._clock = clock
        # _creationTime of the last insert, in ns: later commits start above it.
        self._creation_floor = 0
        self._writer: aiosqlite.Connection | None = None
        self._readers: list[aiosqlite.Connection] = []
        self._idle: asyncio.Queue[aiosqlite.Connection] = asyncio.Queue()
        self._write_lock = asyncio.Lock()
        # Nothing else may hold the file while this store is open (one node).
        # A read-only store (`livesync export`) writes nothing, so it may read
        # while a server has the file: WAL readers see only whole commits.
        self._read_only = read_only
        self._file_lock = None if self._path == _MEMORY or read_only else FileLock(self._path)

    async def open(
        self,
        indexes: Sequence[IndexDef | SearchIndexDef],
        legacy_numbers: LegacyNumbers | None = None,
    ) -> None:
        if self._read_only:
            await self._open_read_only()
            return
        catalog = IndexCatalog(indexes)
        if self._file_lock is not None:
            self._file_lock.acquire()
        try:
            self._writer = await self._connect(writer=True)
        except BaseException:
            await self.close()
            raise
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
        writer = self._writer
        await migrate_indexes(
            stored, catalog, lambda old, new: run(writer, ops.migrate_indexes, old, new)
        )
        if value_format < VALUE_FORMAT:
            rewritten = await run(self._writer, ops.upgrade_numbers, catalog, legacy_numbers)
            _log.info("store.values.upgraded format=%d rewritten=%d", VALUE_FORMAT, rewritten)
        self._catalog = catalog
        await self._open_readers()
        if not await run(writer, ops.tables_catalogued):
            await fill_table_catalog(self, lambda: run(writer, ops.mark_tables_catalogued))

    async def _open_read_only(self) -> None:
        """Readers only, the schema and indexes as the file has them."""
        if not Path(self._path).is_file():
            raise StoreError(f"No SQLite database at {self._path}")
        await self._open_readers()
        try:
            self._latest_ts, stored, _ = await self.read(ops.load_meta)
        except sqlite3.Error as exc:
            await self.close()
            raise StoreError(f"{self._path} is not a livesync database: {exc}") from None
        self._catalog = IndexCatalog.from_json(stored)

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
        if self._path == _MEMORY:
            assert self._writer is not None
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
        if self._file_lock is not None:
            self._file_lock.release()
        _log.info("store.closed path=%s", self._path)

    async def change_indexes(self, indexes: Sequence[IndexDef | SearchIndexDef]) -> None:
        catalog = IndexCatalog(indexes)
        async with self._write_lock:
            writer = self._writer
            if writer is None:
                raise StoreError("The store is not open")
            stored = self._catalog.to_json()
            await migrate_indexes(
                stored, catalog, lambda old, new: run(writer, ops.migrate_indexes, old, new)
            )
            self._catalog = catalog  # under the lock: every later commit writes its entries

    def snapshot(self, ts: int | None = None) -> SqliteSnapshot:
        return SqliteSnapshot(self, self._snapshot_ts(ts))

    async def newest_ts(self) -> int:
        latest_ts, _, _ = await self.read(ops.load_meta)
        return latest_ts

    async def tables(self, ts: int) -> list[str]:
        return await self.read(ops.tables, ts)

    @asynccontextmanager
    async def _reader(self) -> AsyncIterator[aiosqlite.Connection]:
        if self._writer is None and not self._readers:
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
                raise StoreError(
                    "The store is read-only" if self._read_only else "The store is not open"
                )
            ts = max(self._clock(), self._latest_ts + 1, self._creation_floor + 1)
            tx = SqliteTransaction(self, writer, ts)
            result = await fn(tx)
            commit = await self._land(tx.commit())
        return result, commit

    async def get_mutation_results(
        self, keys: Sequence[tuple[str, int]]
    ) -> dict[tuple[str, int], StoredResult]:
        return await self.read(ops.get_mutation_results, keys, self._latest_ts)

    async def prune_mutation_results(self, before_ts: int) -> int:
        """Delete the results of mutations committed before `before_ts`:
        retries of those run as new requests. Returns how many went."""
        async with self._write_lock:
            if self._writer is None:
                raise StoreError("The store is not open")
            deleted = await run(self._writer, ops.prune_mutation_results, before_ts)
        _log.info("store.mutation_results.pruned before_ts=%d rows=%d", before_ts, deleted)
        return deleted

    # One process per file (see file_lock): every commit is this store's.
    @property
    def exclusive(self) -> bool:
        return True

    @property
    def problem(self) -> str | None:
        return None

    def watch_commits(self, changed: Callable[[], None]) -> None:
        pass

    async def commits_after(self, ts: int) -> Sequence[Commit] | None:
        return ()

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
