"""The PostgreSQL backend: asyncpg, one writer connection, a few readers.

Theory of operation. The semantics are those of `server.store.sqlite`; only
the means differ. Every write takes this process's asyncio lock, then opens
a PostgreSQL transaction on the writer connection and takes the advisory
write lock (`postgres_ops.WRITE_LOCK`), which serializes writers across
processes too. Under it the transaction reads the meta row, so its
`ts = max(clock(), latest_ts + 1, creation_floor + 1)` is above every commit
of any process, even after a restart with the clock behind. The rows, the
mutation results and the new meta row go in one statement, then COMMIT: a
write costs four round trips (lock, meta, rows, COMMIT) plus its reads, and
the lock is held for all of it, mutations included; group commit is what
spreads that cost over many mutations. `latest_ts` moves only after COMMIT
returns, and every snapshot read filters on `ts <= snapshot ts`, so a reader
never sees a commit in progress.

A commit's `IndexKeyChange`s are computed in memory while it runs
(`Commit.keys`), and `latest_ts` is readable from the meta row, which is
what another node needs to learn of this one's commits.

Connections come from two asyncpg pools (1 writer, `readers` readers), which
replace a connection that was lost. Every asyncpg or socket error becomes a
`StoreError` (`StoreUnavailable` for a lost connection) in
`server.store.postgres_ops`, so none reaches the sync layer.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from typing import TypeVar
from urllib.parse import urlsplit, urlunsplit

import asyncpg

from server.errors import StoreError
from server.store import postgres_ops as ops
from server.store.base import (
    Commit,
    IndexDef,
    IndexKeyChange,
    LegacyNumbers,
    SearchIndexDef,
    StoredResult,
    Transaction,
)
from server.store.catalog import VALUE_FORMAT, IndexCatalog
from server.store.core import StoreCore, fill_table_catalog, migrate_indexes
from server.store.postgres_tx import PostgresSnapshot, PostgresTransaction

__all__ = ["PostgresStore"]

_log = logging.getLogger("livesync.store")

T = TypeVar("T")

_READERS = 2
_RECONNECT_MIN = 0.1  # seconds before the listener reconnects, doubling
_RECONNECT_MAX = 5.0
_PING_INTERVAL = 5.0  # seconds between checks that the listening connection lives
_SERVER_SETTINGS = {"application_name": "livesync", "jit": "off"}


class PostgresStore(StoreCore):
    """A `Store` in one PostgreSQL database, given by a `postgresql://` URL."""

    def __init__(
        self,
        url: str,
        *,
        readers: int = _READERS,
        clock: Callable[[], int] = time.time_ns,
        read_only: bool = False,
    ) -> None:
        super().__init__()
        self._url = url
        # A read-only store (`livesync export`) opens no writer, migrates
        # nothing and keeps the indexes the database has.
        self._read_only = read_only
        self._readers = readers
        self._clock = clock
        self._writer_pool: asyncpg.Pool | None = None
        self._reader_pool: asyncpg.Pool | None = None
        self._write_lock = asyncio.Lock()
        # Names this process's commits in the log and its notifications.
        self.node = uuid.uuid4().hex[:12]
        self._listener: _CommitListener | None = None

    @property
    def exclusive(self) -> bool:
        """Other processes may write the same database."""
        return False

    @property
    def problem(self) -> str | None:
        """Why the database looks unreachable now, or None."""
        return None if self._listener is None else self._listener.problem

    async def open(
        self,
        indexes: Sequence[IndexDef | SearchIndexDef],
        legacy_numbers: LegacyNumbers | None = None,
    ) -> None:
        """Create or migrate the schema and load `latest_ts`. `legacy_numbers`
        is unused: no livesync wrote the older number format to PostgreSQL."""
        if self._read_only:
            await self._open_read_only()
            return
        catalog = IndexCatalog(indexes)
        try:
            self._writer_pool = await _create_pool(self._url, 1)
            self._reader_pool = await _create_pool(self._url, self._readers)
            self._latest_ts, catalogued = await self._locked(lambda conn: _prepare(conn, catalog))
            self._catalog = catalog
            if not catalogued:
                await fill_table_catalog(self, lambda: self._locked(ops.mark_tables_catalogued))
        except BaseException:
            await self.close()
            raise
        _log.info("store.opened url=%s latest_ts=%d", _redacted(self._url), self._latest_ts)

    async def change_indexes(self, indexes: Sequence[IndexDef | SearchIndexDef]) -> None:
        """`Store.change_indexes` for this node; other nodes on the database
        keep the catalog they opened with until they restart (a dev reload
        serves one node)."""
        catalog = IndexCatalog(indexes)
        stored = self._catalog.to_json()

        async def migrate(conn: asyncpg.Connection) -> None:
            await migrate_indexes(
                stored, catalog, lambda old, new: ops.migrate_indexes(conn, old, new)
            )

        await self._locked(migrate, then=lambda: setattr(self, "_catalog", catalog))

    async def _open_read_only(self) -> None:
        try:
            self._reader_pool = await _create_pool(self._url, self._readers)
            async with self.reader() as conn:
                self._latest_ts, _, stored, _ = await ops.load_meta(conn)
        except BaseException:
            await self.close()
            raise
        self._catalog = IndexCatalog.from_json(stored)
        _log.info(
            "store.opened read-only url=%s latest_ts=%d", _redacted(self._url), self._latest_ts
        )

    async def newest_ts(self) -> int:
        async with self.reader() as conn:
            latest_ts, _, _, _ = await ops.load_meta(conn)
        return latest_ts

    async def tables(self, ts: int) -> list[str]:
        async with self.reader() as conn:
            return await ops.tables(conn, ts)

    def watch_commits(self, changed: Callable[[], None]) -> None:
        """Call `changed` whenever other nodes may have committed: on each of
        their commit notifications, and after the listening connection was
        lost and is back (notifications sent meanwhile are gone)."""
        if self._listener is not None:
            raise RuntimeError("watch_commits was already called")
        self._listener = _CommitListener(self._url, self.node, changed)
        self._listener.start()

    async def commits_after(self, ts: int) -> Sequence[Commit] | None:
        async with self.reader() as conn:
            rows = await ops.commits_after(conn, ts)
        if rows is None:
            return None
        commits: list[Commit] = []
        for commit_ts, node, indexes, keys in rows:
            if node == self.node:
                # Ours: our committer publishes it, and what follows after it
                # (publishing it first would let a client see a Transition
                # covering its mutation before the MutationResponse).
                break
            commits.append(Commit(commit_ts, (), tuple(map(IndexKeyChange, indexes, keys))))
        if commits and commits[-1].ts > self._latest_ts:
            self._latest_ts = commits[-1].ts  # snapshots may now read them
        return commits

    async def close(self) -> None:
        if self._listener is not None:
            await self._listener.stop()
            self._listener = None
        pools = [pool for pool in (self._reader_pool, self._writer_pool) if pool is not None]
        self._reader_pool = self._writer_pool = None
        if not pools:
            return  # never opened (the database was out of reach): nothing to say
        async with self._write_lock:
            for pool in pools:
                await _close_pool(pool)
        _log.info("store.closed url=%s", _redacted(self._url))

    def snapshot(self, ts: int | None = None) -> PostgresSnapshot:
        return PostgresSnapshot(self, self._snapshot_ts(ts))

    @asynccontextmanager
    async def reader(self) -> AsyncIterator[asyncpg.Connection]:
        """An idle reader connection, for one statement or a few."""
        async with _connection(self._reader_pool) as conn:
            yield conn

    async def write(self, fn: Callable[[Transaction], Awaitable[T]]) -> tuple[T, Commit]:
        if self._read_only:
            raise StoreError("The store is read-only")
        async with self._write_lock, _connection(self._writer_pool) as conn:
            try:
                await ops.begin_locked(conn)
                latest, floor, _, _ = await ops.load_meta(conn)
                ts = max(self._clock(), latest + 1, floor + 1)
                tx = PostgresTransaction(self, conn, ts, latest)
                result = await fn(tx)
            except BaseException:
                await _abort(conn)
                raise
            commit = await self._land(_commit(conn, tx))
        return result, commit

    async def _locked(
        self,
        body: Callable[[asyncpg.Connection], Awaitable[T]],
        then: Callable[[], None] | None = None,
    ) -> T:
        """Run `body` in a transaction holding the write lock, and commit;
        `then` runs once it committed, still under the lock."""
        async with self._write_lock, _connection(self._writer_pool) as conn:
            try:
                await ops.begin_locked(conn)
                result = await body(conn)
                await ops.end(conn)
            except BaseException:
                await _abort(conn)
                raise
            if then is not None:
                then()
        return result

    async def get_mutation_results(
        self, keys: Sequence[tuple[str, int]]
    ) -> dict[tuple[str, int], StoredResult]:
        async with self.reader() as conn:
            return await ops.get_mutation_results(conn, keys, self._latest_ts)

    async def prune_mutation_results(self, before_ts: int) -> int:
        """Delete the results of mutations committed before `before_ts`:
        retries of those run as new requests. Returns how many went."""
        deleted = await self._locked(lambda conn: ops.prune_mutation_results(conn, before_ts))
        _log.info("store.mutation_results.pruned before_ts=%d rows=%d", before_ts, deleted)
        return deleted

    async def vacuum_before(self, ts: int) -> int:
        """Delete history that no snapshot at `ts` or later can see; returns
        the number of rows deleted. Call it only with a `ts` no older than any
        snapshot still in use."""
        horizon = min(ts, self._latest_ts)
        deleted = await self._locked(lambda conn: ops.vacuum(conn, horizon))
        _log.info("store.vacuumed before_ts=%d rows=%d", ts, deleted)
        return deleted


async def _prepare(conn: asyncpg.Connection, catalog: IndexCatalog) -> tuple[int, bool]:
    """`(latest_ts, whether the catalog of table names was filled)`."""
    await ops.create_schema(conn)
    latest, _, stored, value_format = await ops.load_meta(conn)
    if value_format != VALUE_FORMAT:
        raise StoreError(f"This database holds values in format {value_format}, not {VALUE_FORMAT}")
    await migrate_indexes(stored, catalog, lambda old, new: ops.migrate_indexes(conn, old, new))
    return latest, await ops.tables_catalogued(conn)


async def _commit(conn: asyncpg.Connection, tx: PostgresTransaction) -> Commit:
    try:
        return await tx.commit()
    except BaseException:
        await _abort(conn)
        raise


async def _abort(conn: asyncpg.Connection) -> None:
    # A connection that cannot even roll back is dropped; its pool opens a
    # new one, and the server rolls back what the old one left.
    try:
        await ops.rollback(conn)
    except BaseException:
        _log.warning("store.rollback.failed: dropping the writer connection", exc_info=True)
        conn.terminate()


@ops.translate
async def _create_pool(url: str, size: int) -> asyncpg.Pool:
    try:
        return await asyncpg.create_pool(
            url,
            min_size=size,
            max_size=size,
            max_inactive_connection_lifetime=0,
            reset=_keep_session,
            server_settings=_SERVER_SETTINGS,
        )
    except ValueError as exc:  # a malformed URL
        raise StoreError(f"Cannot connect to {_redacted(url)}: {exc}") from exc


async def _keep_session(conn: asyncpg.Connection) -> None:
    """The pool's reset on release: nothing (the default costs a round trip
    per release); asyncpg still rolls back a transaction left open."""


async def _close_pool(pool: asyncpg.Pool) -> None:
    try:
        await asyncio.wait_for(pool.close(), 5)
    except (Exception, asyncio.CancelledError):
        _log.warning("store.close.failed: terminating connections", exc_info=True)
        pool.terminate()


@asynccontextmanager
async def _connection(pool: asyncpg.Pool | None) -> AsyncIterator[asyncpg.Connection]:
    if pool is None:
        raise StoreError("The store is not open")
    conn = await ops.translate(pool.acquire)()
    try:
        yield conn
    finally:
        await ops.translate(pool.release)(conn)


def _redacted(url: str) -> str:
    """`url` without its password, for the log."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.rsplit("@", 1)[-1]
    user = parts.username or ""
    return urlunsplit(parts._replace(netloc=f"{user}:***@{netloc}"))


class _CommitListener:
    """A connection of its own that LISTENs for other nodes' commits, and
    reconnects (with backoff) when it is lost; `problem` says why it is down."""

    def __init__(self, url: str, node: str, changed: Callable[[], None]) -> None:
        self._url = url
        self._node = node
        self._changed = changed
        self._task: asyncio.Task[None] | None = None
        self._lost: asyncio.Event | None = None
        self.problem: str | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    async def _run(self) -> None:
        delay = _RECONNECT_MIN
        while True:
            try:
                await self._listen()
                delay = _RECONNECT_MIN
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                self.problem = f"database unreachable: {type(exc).__name__}: {exc}"
                _log.warning("store.listener.lost %s; retrying in %.1f s", self.problem, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, _RECONNECT_MAX)

    async def _listen(self) -> None:
        lost = asyncio.Event()
        conn = await asyncpg.connect(self._url, server_settings=_SERVER_SETTINGS)
        try:
            conn.add_termination_listener(lambda _: lost.set())
            await conn.add_listener(ops.COMMITS_CHANNEL, self._notified)
            if self.problem is not None:
                _log.info("store.listener.back after: %s", self.problem)
            self.problem = None
            self._changed()  # whatever was committed while no one listened
            while not lost.is_set():
                # A dead peer may never close the socket: ask now and then.
                try:
                    await asyncio.wait_for(lost.wait(), _PING_INTERVAL)
                except TimeoutError:
                    await asyncio.wait_for(conn.fetchval("SELECT 1"), _PING_INTERVAL)
            raise OSError("the listening connection was closed")
        finally:
            conn.terminate()

    def _notified(self, _conn: object, _pid: int, _channel: str, payload: str) -> None:
        node, _, _ts = payload.partition(" ")
        if node != self._node:
            self._changed()
