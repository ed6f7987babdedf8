"""Reads at one timestamp and write transactions of `PostgresStore`.

A transaction buffers its rows in memory (`server.store.buffer`) and sends
them in one statement when it commits. All its reads go through the writer
connection, which holds the write lock for the whole transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import asyncpg

from server.store import postgres_ops as ops
from server.store.base import Order, SearchRequest
from server.store.buffer import BufferedTransaction
from server.store.paging import PagedSnapshot, PageRow
from server.store.search_index import SearchRow

if TYPE_CHECKING:
    from server.store.postgres import PostgresStore

__all__ = ["PostgresSnapshot", "PostgresTransaction"]


class PostgresSnapshot(PagedSnapshot["PostgresStore"]):
    """Reads at one timestamp through the store's reader connections."""

    __slots__ = ()

    async def _get_row(self, id: str) -> tuple[str, str] | None:
        async with self._store.reader() as conn:
            return await ops.get_document(conn, id, self._ts)

    async def _read_page(
        self, index: str, lo: bytes, hi: bytes | None, order: Order, limit: int
    ) -> Sequence[PageRow]:
        async with self._store.reader() as conn:
            return await ops.read_page(conn, index, lo, hi, self._ts, order, limit)

    async def _search_rows(self, request: SearchRequest) -> Sequence[str]:
        async with self._store.reader() as conn:
            return await ops.search(conn, request, self._ts)


class PostgresTransaction(
    BufferedTransaction["PostgresStore", ops.DocRow, ops.IndexRow, ops.ResultRow],
    PostgresSnapshot,
):
    """A write transaction at commit ts `ts`, on the writer connection, whose
    PostgreSQL transaction is already open and holds the write lock."""

    __slots__ = ("_conn",)

    def __init__(
        self, store: PostgresStore, conn: asyncpg.Connection, ts: int, previous: int
    ) -> None:
        super().__init__(store, ts, previous)
        self._conn = conn

    def _doc_row(self, id: str, table: str, value: str | None, deleted: bool) -> ops.DocRow:
        return (id, table, value, deleted)

    def _index_row(self, index: str, key: bytes, id: str, deleted: bool) -> ops.IndexRow:
        return (index, key, id, deleted)

    def _result_row(
        self, session_id: str, request_id: int, result_json: str, fingerprint: str | None
    ) -> ops.ResultRow:
        return (session_id, request_id, result_json, fingerprint)

    async def _get_row(self, id: str) -> tuple[str, str] | None:
        # The writer connection: it holds the lock, so it sees every commit.
        return await ops.get_document(self._conn, id, self._ts)

    async def _read_own_page(
        self, index: str, lo: bytes, hi: bytes | None, order: Order, limit: int
    ) -> Sequence[PageRow]:
        return await ops.read_page(self._conn, index, lo, hi, self._ts, order, limit)

    async def _search_own(self, request: SearchRequest) -> Sequence[str]:
        return await ops.search(self._conn, request, self._ts)

    async def _stored_tables(self) -> list[str]:
        return await ops.tables(self._conn, self._ts)

    async def _commit_rows(
        self,
        docs: list[ops.DocRow],
        entries: list[ops.IndexRow],
        results: list[ops.ResultRow],
        searches: list[SearchRow],
    ) -> None:
        """Send the remaining rows, the results, the commit's log entry and
        the meta row in one statement, and COMMIT; the meta row's
        creation_floor starts later commits above the last insert."""
        logged = [(change.index, change.key) for change in self._keys]
        await ops.commit(
            self._conn,
            self._ts,
            self._created,
            docs,
            entries,
            results,
            self._store.node,
            logged,
            searches,
        )
