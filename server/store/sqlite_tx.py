"""Reads at one timestamp and write transactions of `SqliteStore`.

A transaction buffers its rows in memory (`server.store.buffer`) and sends
them in one batch, one thread hop (see `server.store.sqlite`), when it
commits: until then the database holds none of them, so failing needs no
rollback.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import aiosqlite

from server.store import sqlite_ops as ops
from server.store.aiosqlite_hop import run
from server.store.base import Order, SearchRequest
from server.store.buffer import BufferedTransaction
from server.store.paging import PagedSnapshot, PageRow
from server.store.search_index import SearchRow

if TYPE_CHECKING:
    from server.store.sqlite import SqliteStore

__all__ = ["SqliteSnapshot", "SqliteTransaction"]


class SqliteSnapshot(PagedSnapshot["SqliteStore"]):
    """Reads at one timestamp through the store's reader connections."""

    __slots__ = ()

    async def _get_row(self, id: str) -> tuple[str, str] | None:
        return await self._store.read(ops.get_document, id, self._ts)

    async def _read_page(
        self, index: str, lo: bytes, hi: bytes | None, order: Order, limit: int
    ) -> Sequence[PageRow]:
        return await self._store.read(ops.read_page, index, lo, hi, self._ts, order, limit)

    async def _search_rows(self, request: SearchRequest) -> Sequence[str]:
        return await self._store.read(ops.search, request, self._ts)


class SqliteTransaction(
    BufferedTransaction["SqliteStore", ops.DocRow, ops.IndexRow, ops.ResultRow], SqliteSnapshot
):
    """A write transaction at commit ts `ts`, on the writer connection. Its
    reads of documents it did not write go through the store's readers."""

    __slots__ = ("_conn",)

    def __init__(self, store: SqliteStore, conn: aiosqlite.Connection, ts: int) -> None:
        super().__init__(store, ts)
        self._conn = conn

    def _doc_row(self, id: str, table: str, value: str | None, deleted: bool) -> ops.DocRow:
        return (id, self._ts, table, value, int(deleted))

    def _index_row(self, index: str, key: bytes, id: str, deleted: bool) -> ops.IndexRow:
        return (index, key, self._ts, id, int(deleted))

    def _result_row(
        self, session_id: str, request_id: int, result_json: str, fingerprint: str | None
    ) -> ops.ResultRow:
        return (session_id, request_id, self._ts, result_json, fingerprint)

    def _creation_time(self, created: int) -> None:
        self._store._creation_floor = max(self._store._creation_floor, created)

    async def _read_own_page(
        self, index: str, lo: bytes, hi: bytes | None, order: Order, limit: int
    ) -> Sequence[PageRow]:
        return await run(self._conn, ops.read_page, index, lo, hi, self._ts, order, limit)

    async def _search_own(self, request: SearchRequest) -> Sequence[str]:
        return await run(self._conn, ops.search, request, self._ts)

    async def _stored_tables(self) -> list[str]:
        return await self._store.read(ops.tables, self._ts)

    async def _commit_rows(
        self,
        docs: list[ops.DocRow],
        entries: list[ops.IndexRow],
        results: list[ops.ResultRow],
        searches: list[SearchRow],
    ) -> None:
        await run(self._conn, ops.commit, docs, entries, results, self._ts, searches)
