"""What every backend's `Store` does alike: it holds the index catalog in
force, the timestamp of the newest durable commit, which bounds the
snapshots it hands out and moves only once a commit has landed, and the
names it knows to be in the catalog of table names (`catalog.TABLES`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence

from server.store.base import Commit, Store, StoredResult, Transaction
from server.store.buffer import BufferedTransaction
from server.store.catalog import IndexCatalog

__all__ = ["StoreCore", "fill_table_catalog", "migrate_indexes"]

_log = logging.getLogger("livesync.store")


class StoreCore:
    """The latest commit and the catalog of a store."""

    def __init__(self) -> None:
        self._latest_ts = 0
        self._catalog = IndexCatalog()
        self._known_tables: set[str] = set()

    @property
    def latest_ts(self) -> int:
        return self._latest_ts

    @property
    def catalog(self) -> IndexCatalog:
        """The indexes in force since `open`."""
        return self._catalog

    @property
    def known_tables(self) -> set[str]:
        """App tables whose catalog document is committed (see
        `server.store.buffer`); only ever added to."""
        return self._known_tables

    def _snapshot_ts(self, ts: int | None) -> int:
        """The ts of a snapshot asked for at `ts` (default: `latest_ts`)."""
        if ts is None:
            ts = self._latest_ts
        if ts > self._latest_ts:
            raise ValueError(f"snapshot ts {ts} is after the latest commit {self._latest_ts}")
        return ts

    async def get_mutation_results(
        self, keys: Sequence[tuple[str, int]]
    ) -> dict[tuple[str, int], StoredResult]:
        raise NotImplementedError

    async def get_mutation_result(self, session_id: str, request_id: int) -> StoredResult | None:
        key = (session_id, request_id)
        return (await self.get_mutation_results([key])).get(key)

    async def _land(self, commit: Awaitable[Commit]) -> Commit:
        """Await `commit` and move `latest_ts` to it. If the caller is
        cancelled while COMMIT is under way, wait for it anyway: a commit that
        landed must move latest_ts, or the next transaction could reuse its ts."""
        task = asyncio.ensure_future(commit)
        try:
            landed = await asyncio.shield(task)
        except asyncio.CancelledError:
            landed = await task
            self._latest_ts = landed.ts
            raise
        self._latest_ts = landed.ts
        return landed


async def migrate_indexes(
    stored: str | None,
    catalog: IndexCatalog,
    migrate: Callable[[IndexCatalog, IndexCatalog], Awaitable[tuple[list[str], list[str]]]],
) -> None:
    """Run `migrate(previous, catalog)` when the indexes `stored` at the last
    start (JSON, None at the first) are not `catalog`'s."""
    previous = IndexCatalog.from_json(stored)
    if stored is None or previous.to_json() != catalog.to_json():
        added, removed = await migrate(previous, catalog)
        if added or removed:
            _log.info("store.indexes.migrated added=%s removed=%s", added, removed)


async def fill_table_catalog(store: Store, mark: Callable[[], Awaitable[None]]) -> None:
    """Catalogue the tables of a database written before the catalog of
    table names existed, in one commit, then `mark` it done (the caller's
    flag in the meta table); a fresh database has nothing to catalogue.
    Doing it twice (a crash before `mark`, two nodes opening at once) is
    harmless: the commit catalogues only the names missing."""
    if store.latest_ts:
        tables, _ = await store.write(_catalogue_stored_tables)
        _log.info("store.tables.catalogued tables=%d", tables)
    await mark()


async def _catalogue_stored_tables(tx: Transaction) -> int:
    assert isinstance(tx, BufferedTransaction)  # every backend's
    return await tx.catalogue_stored_tables()
