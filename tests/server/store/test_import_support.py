"""What export and import need of every store backend: inserts that keep an
exported id and `_creationTime`, a read-only store beside a writing one,
the table list and the newest commit in the database."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from server.errors import SchemaError, StoreError
from server.store.base import IndexDef, Store
from server.store.catalog import STORAGE, TABLES
from server.store.ids import new_id
from server.store.keys import encode_tuple
from server.store.postgres import PostgresStore
from server.store.sqlite import SqliteStore
from tests.helpers.stores import SqliteBackend, StoreBackend

INDEXES = [IndexDef("notes", "notes.by_author", ("author", "_creationTime"))]


def _read_only(backend: StoreBackend) -> Store:
    if isinstance(backend, SqliteBackend):
        return SqliteStore(backend.path, read_only=True)
    return PostgresStore(backend.url, read_only=True)


async def test_a_kept_id_and_creation_time_are_indexed_and_later_inserts_come_after(
    store_backend: StoreBackend,
) -> None:
    store = store_backend.make()
    await store.open(INDEXES)
    try:
        kept = new_id("notes")
        future = time.time() * 1000 + 3_600_000.0  # an hour ahead of the clock
        await store.write(
            lambda tx: tx.insert(
                "notes", {"author": "ada"}, system=True, id=kept, creation_time=123.5
            )
        )
        ahead = new_id("notes")
        await store.write(
            lambda tx: tx.insert(
                "notes", {"author": "ada"}, system=True, id=ahead, creation_time=future
            )
        )
        fresh, _ = await store.write(lambda tx: tx.insert("notes", {"author": "ada"}))
        snap = store.snapshot()
        rows = [doc async for _, doc in snap.scan("notes.by_author", encode_tuple(["ada"]), None)]
        assert [doc["_id"] for doc in rows] == [kept, ahead, fresh]
        assert rows[0]["_creationTime"] == 123.5 and rows[1]["_creationTime"] == future
        assert rows[2]["_creationTime"] > future
    finally:
        await store.close()


async def test_only_the_server_sets_creation_time(store_backend: StoreBackend) -> None:
    store = store_backend.make()
    await store.open([])
    try:
        with pytest.raises(SchemaError, match="Only the server sets _creationTime"):
            await store.write(lambda tx: tx.insert("notes", {}, creation_time=1.0))
        with pytest.raises(SchemaError, match="is not an id made for notes"):
            await store.write(lambda tx: tx.insert("notes", {}, system=True, id=new_id(STORAGE)))
    finally:
        await store.close()


async def test_a_read_only_store_reads_a_snapshot_while_another_writes(
    store_backend: StoreBackend,
) -> None:
    writer = store_backend.make()
    await writer.open(INDEXES)
    reader = _read_only(store_backend)
    try:
        first, _ = await writer.write(lambda tx: tx.insert("notes", {"author": "ada"}))
        await reader.open([])
        snap = reader.snapshot()
        await writer.write(lambda tx: tx.patch(first, {"author": "bob"}))
        await writer.write(lambda tx: tx.insert("other", {}))
        assert (await snap.get(first) or {})["author"] == "ada"
        assert await reader.tables(snap.ts) == [TABLES, "notes"]  # the catalog is a table too
        assert await reader.newest_ts() == writer.latest_ts > snap.ts
        assert await reader.tables(writer.latest_ts) == [TABLES, "notes", "other"]
        with pytest.raises(StoreError, match="read-only"):
            await reader.write(lambda tx: tx.insert("notes", {}))
    finally:
        await reader.close()
        await writer.close()


async def test_a_read_only_store_needs_an_existing_database(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "missing.db", read_only=True)
    with pytest.raises(StoreError, match="No SQLite database at"):
        await store.open([])
    assert not (tmp_path / "missing.db").exists()
