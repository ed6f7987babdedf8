"""The catalog of table names (`_tables`) on each backend: a table's entry
is written in the commit of its first insert and never twice; a transaction
that fails, or whose COMMIT fails, leaves none and a later insert writes it;
and a database written before the catalog existed gets it filled once when
it is opened, by one PostgreSQL node or several at once."""

from __future__ import annotations

import asyncio

import pytest

from server.errors import StoreError
from server.store.base import Store, Transaction
from server.store.catalog import NODES, TABLES
from server.store.postgres import PostgresStore
from tests.helpers.postgres import fresh_database
from tests.helpers.stores import PostgresBackend, SqliteBackend, StoreBackend, catalogued
from tests.helpers.timeouts import EVENT

from .conftest import BY_CHANNEL

# Past a 64-bit integer: neither database can store it as a request id, so
# the COMMIT of a transaction recording it fails.
HOSTILE = 2**63


async def insert(store: Store, *tables: str) -> None:
    async def body(tx: Transaction) -> None:
        for table in tables:
            await tx.insert(table, {})

    await store.write(body)


async def test_the_first_insert_catalogues_its_table_in_its_own_commit_once(
    store: Store,
) -> None:
    before = store.snapshot()

    async def body(tx: Transaction) -> None:
        await tx.insert("messages", {"channel": "a"})
        await tx.insert("messages", {"channel": "b"})
        await tx.insert("notes", {})
        await tx.insert(NODES, {"url": "x"}, system=True)

    _, commit = await store.write(body)
    listed = sorted(w.new["name"] for w in commit.writes if w.table == TABLES and w.new)
    assert listed == ["messages", "notes"]  # system tables are not catalogued
    assert await catalogued(before) == []
    await insert(store, "messages", "notes")
    assert sorted(await catalogued(store.snapshot())) == ["messages", "notes"]


async def test_a_store_that_did_not_catalogue_a_table_finds_its_entry(
    store_backend: StoreBackend,
) -> None:
    first = store_backend.make()
    await first.open([BY_CHANNEL])
    try:
        await insert(first, "notes")
    finally:
        await first.close()
    # A new process (or another node) knows no names yet: one read finds it.
    second = store_backend.make()
    await second.open([BY_CHANNEL])
    try:
        _, commit = await second.write(lambda tx: tx.insert("notes", {}))
        assert [w.table for w in commit.writes] == ["notes"]
        assert await catalogued(second.snapshot()) == ["notes"]
    finally:
        await second.close()


async def test_a_failed_transaction_leaves_no_entry_and_a_later_insert_writes_it(
    store: Store,
) -> None:
    async def fails(tx: Transaction) -> None:
        await tx.insert("fresh", {})
        await tx.insert("fresh", {})
        raise RuntimeError("the mutation failed")

    with pytest.raises(RuntimeError, match="the mutation failed"):
        await store.write(fails)
    assert await catalogued(store.snapshot()) == []

    await insert(store, "fresh")
    assert await catalogued(store.snapshot()) == ["fresh"]


async def test_a_failed_commit_leaves_no_entry_and_a_later_insert_writes_it(
    store: Store,
) -> None:
    async def unstorable(tx: Transaction) -> None:
        await tx.insert("fresh", {})
        await tx.record_mutation_result("session", HOSTILE, "null")

    with pytest.raises(StoreError):
        await store.write(unstorable)
    assert await catalogued(store.snapshot()) == []

    await insert(store, "fresh")
    assert await catalogued(store.snapshot()) == ["fresh"]


# -- a database from before the catalog ----------------------------------------------

_CATALOG_ROWS = (
    f"DELETE FROM documents WHERE tbl = '{TABLES}'",
    f"DELETE FROM index_entries WHERE idx IN"
    f" ('{TABLES}.by_id', '{TABLES}.by_creation_time', '{TABLES}.by_name')",
)


async def _as_before_the_catalog(backend: StoreBackend, *, keep_rows: bool = False) -> None:
    """Make the database look as an older livesync left it: no catalog rows
    (unless `keep_rows`: a fill interrupted before it was marked done) and no
    mark in the meta table."""
    statements = () if keep_rows else _CATALOG_ROWS
    if isinstance(backend, SqliteBackend):
        statements += ("DELETE FROM meta WHERE name = 'tables_catalogued'",)
    else:
        statements += ("ALTER TABLE meta DROP COLUMN tables_catalogued",)
    for sql in statements:
        await backend.fetch(sql)


async def _written_then_reopened(backend: StoreBackend, *, keep_rows: bool = False) -> Store:
    store = backend.make()
    await store.open([BY_CHANNEL])
    try:
        await insert(store, "messages", "notes", "notes")
        await store.write(lambda tx: tx.insert(NODES, {}, system=True))
        doc_id, _ = await store.write(lambda tx: tx.insert("emptied", {}))
        await store.write(lambda tx: tx.delete(doc_id))
    finally:
        await store.close()
    await _as_before_the_catalog(backend, keep_rows=keep_rows)
    reopened = backend.make()
    await reopened.open([BY_CHANNEL])
    return reopened


async def test_an_older_database_gets_its_catalog_filled_once_when_opened(
    store_backend: StoreBackend,
) -> None:
    store = await _written_then_reopened(store_backend)
    try:
        names = await catalogued(store.snapshot())
        latest = store.latest_ts
    finally:
        await store.close()
    assert sorted(names) == ["emptied", "messages", "notes"]  # emptied tables too

    again = store_backend.make()
    await again.open([BY_CHANNEL])
    try:
        assert again.latest_ts == latest  # marked done: no second fill
        await insert(again, "messages", "other")
        assert sorted(await catalogued(again.snapshot())) == [*sorted(names), "other"]
    finally:
        await again.close()


async def test_a_fill_interrupted_before_it_was_marked_done_adds_nothing_twice(
    store_backend: StoreBackend,
) -> None:
    store = await _written_then_reopened(store_backend, keep_rows=True)
    try:
        assert sorted(await catalogued(store.snapshot())) == ["emptied", "messages", "notes"]
    finally:
        await store.close()


async def test_postgres_nodes_opening_an_older_database_at_once_catalogue_each_table_once() -> None:
    async with fresh_database() as url:
        backend = PostgresBackend(url)
        first = await _written_then_reopened(backend)
        await first.close()
        await _as_before_the_catalog(backend)
        nodes = [PostgresStore(url) for _ in range(3)]
        try:
            opening = (node.open([BY_CHANNEL]) for node in nodes)
            await asyncio.wait_for(asyncio.gather(*opening), EVENT)
        finally:
            for node in nodes:
                await node.close()
        reader = PostgresStore(url, read_only=True)
        await reader.open([])
        try:
            names = await catalogued(reader.snapshot())
        finally:
            await reader.close()
        assert sorted(names) == ["emptied", "messages", "notes"]
