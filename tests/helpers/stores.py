"""The store backends a parametrized test runs against: SQLite and PostgreSQL.

A `StoreBackend` names one database (a SQLite file, a fresh PostgreSQL
database) and makes stores on it, so a test can close a store and open
another on the same data, and look at the raw tables with `fetch`.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import asyncpg

from server.store.base import Snapshot
from server.store.catalog import BY_CREATION_TIME, TABLES
from server.store.postgres import PostgresStore
from server.store.sqlite import SqliteStore
from tests.helpers.postgres import fresh_database

__all__ = [
    "BACKENDS",
    "PostgresBackend",
    "SqliteBackend",
    "StoreBackend",
    "catalogued",
    "open_backend",
]

BACKENDS = ("sqlite", "postgres")

Clock = Callable[[], int]


class SqliteBackend:
    name = "sqlite"

    def __init__(self, path: Path) -> None:
        self.path = path
        self.made: list[SqliteStore] = []  # closed at the end (again: harmless)

    def make(self, clock: Clock = time.time_ns) -> SqliteStore:
        store = SqliteStore(self.path, clock=clock)
        self.made.append(store)
        return store

    async def fetch(self, sql: str) -> list[tuple[Any, ...]]:
        with sqlite3.connect(self.path) as conn:
            rows = conn.execute(sql).fetchall()
        conn.close()
        return rows


class PostgresBackend:
    name = "postgres"

    def __init__(self, url: str) -> None:
        self.url = url
        self.made: list[PostgresStore] = []  # closed at the end (again: harmless)

    def make(self, clock: Clock = time.time_ns) -> PostgresStore:
        store = PostgresStore(self.url, clock=clock)
        self.made.append(store)
        return store

    async def fetch(self, sql: str) -> list[tuple[Any, ...]]:
        conn = await asyncpg.connect(self.url)
        try:
            return [tuple(row) for row in await conn.fetch(sql)]
        finally:
            await conn.close()


StoreBackend = SqliteBackend | PostgresBackend


@asynccontextmanager
async def open_backend(name: str, tmp_path: Path) -> AsyncIterator[StoreBackend]:
    """The backend `name` on a new, empty database. Every store it made is
    closed at the end, so a test that failed before closing its own leaves
    no SQLite thread behind to keep the test process from exiting (and no
    connection to keep PostgreSQL from dropping the database)."""
    backend: StoreBackend
    if name == "sqlite":
        backend = SqliteBackend(tmp_path / "db.sqlite")
        try:
            yield backend
        finally:
            await _close_all(backend)
        return
    async with fresh_database() as url:
        backend = PostgresBackend(url)
        try:
            yield backend
        finally:
            await _close_all(backend)


async def _close_all(backend: StoreBackend) -> None:
    for store in backend.made:
        await store.close()


async def catalogued(snapshot: Snapshot) -> list[str]:
    """The names in the catalog of table names at `snapshot`, in the order
    they were catalogued (a name catalogued twice is there twice)."""
    rows = snapshot.scan(f"{TABLES}.{BY_CREATION_TIME}", b"", None)
    return [doc["name"] async for _, doc in rows]
