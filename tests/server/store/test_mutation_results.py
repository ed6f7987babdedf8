"""The stored mutation results: bound to a fingerprint of the call (issue 13,
item 5), migrated in SQLite files from before it, and pruned by age (item 4);
on every backend but the SQLite migration."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from server.store.base import Transaction
from server.store.sqlite import SqliteStore
from tests.helpers.stores import StoreBackend

__all__: list[str] = []

# mutation_results as livesync created it before fingerprints.
_OLD_TABLE = """
CREATE TABLE mutation_results (
    session_id TEXT NOT NULL, request_id INTEGER NOT NULL,
    ts INTEGER NOT NULL, result TEXT NOT NULL,
    PRIMARY KEY (session_id, request_id)
) WITHOUT ROWID;
CREATE TABLE meta (name TEXT PRIMARY KEY, value) WITHOUT ROWID;
INSERT INTO meta VALUES ('latest_ts', 10), ('value_format', 2);
"""


async def test_a_result_is_stored_with_its_fingerprint_and_commit_ts(
    store_backend: StoreBackend,
) -> None:
    store = store_backend.make()
    await store.open([])
    try:

        async def body(tx: Transaction) -> None:
            await tx.record_mutation_result("session", 3, '{"ok":true}', "fp")

        _, commit = await store.write(body)
        assert await store.get_mutation_result("session", 3) == (commit.ts, '{"ok":true}', "fp")
        assert await store.get_mutation_result("session", 4) is None
    finally:
        await store.close()


async def test_a_file_from_before_fingerprints_opens_and_its_rows_have_none(
    tmp_path: Path,
) -> None:
    path = tmp_path / "old.db"
    with sqlite3.connect(path) as conn:
        conn.executescript(_OLD_TABLE)
        conn.execute("INSERT INTO mutation_results VALUES ('s', 1, 5, '\"old\"')")
    conn.close()
    store = SqliteStore(path)
    await store.open([])
    try:
        assert await store.get_mutation_result("s", 1) == (5, '"old"', None)

        async def body(tx: Transaction) -> None:
            await tx.record_mutation_result("s", 2, '"new"', "fp")

        _, commit = await store.write(body)
        assert await store.get_mutation_result("s", 2) == (commit.ts, '"new"', "fp")
    finally:
        await store.close()
    # Opening it again migrates nothing twice.
    store = SqliteStore(path)
    await store.open([])
    await store.close()


async def test_pruning_deletes_only_results_committed_before_the_horizon(
    store_backend: StoreBackend,
) -> None:
    now = [1_000 * 10**9]
    store = store_backend.make(clock=lambda: now[0])
    await store.open([])
    try:
        stamps = []
        for request in range(3):

            async def body(tx: Transaction, request: int = request) -> None:
                await tx.record_mutation_result("s", request, "null", "fp")

            stamps.append((await store.write(body))[1].ts)
            now[0] += 10**9
        assert await store.prune_mutation_results(stamps[1]) == 1
        assert await store.get_mutation_result("s", 0) is None
        assert await store.get_mutation_result("s", 1) is not None
        assert await store.prune_mutation_results(stamps[2] + 1) == 2
    finally:
        await store.close()
