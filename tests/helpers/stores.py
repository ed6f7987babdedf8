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

    def make(self, clock: Clock = time.time_ns) -> SqliteStore:
        return SqliteStore(self.path, clock=clock)

    async def fetch(self, sql: str) -> list[tuple[Any, ...]]:
        with sqlite3.connect(self.path) as conn:
            rows = conn.execute(sql).fetchall()
        conn.close()
        return rows


class PostgresBackend:
    name = "postgres"

    def __init__(self, url: str) -> None:
        self.url = url

    def make(self, clock: Clock = time.time_ns) -> PostgresStore:
        return PostgresStore(self.url, clock=clock)

    async def fetch(self, sql: str) -> list[tuple[Any, ...]]:
        conn = await asyncpg.connect(self.url)
        try:
            return [tuple(row) for row in await conn.fetch(sql)]
        finally:
            await conn.close()


StoreBackend = SqliteBackend | PostgresBackend


@asynccontextmanager
async def open_backend(name: str, tmp_path: Path) -> AsyncIterator[StoreBackend]:
    """The backend `name` on a new, empty database."""
    if name == "sqlite":
        yield SqliteBackend(tmp_path / "db.sqlite")
        return
    async with fresh_database() as url:
        yield PostgresBackend(url)


async def catalogued(snapshot: Snapshot) -> list[str]:
    """The names in the catalog of table names at `snapshot`, in the order
    they were catalogued (a name catalogued twice is there twice)."""
    rows = snapshot.scan(f"{TABLES}.{BY_CREATION_TIME}", b"", None)
    return [doc["name"] async for _, doc in rows]
