"""What only the PostgreSQL store has: writers in several processes on one
database, lost connections, and a fixed number of connections. The
backend-neutral tests (test_store.py) run on PostgreSQL too."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from server.errors import StoreError, StoreUnavailable
from server.store.base import Transaction
from server.store.postgres import PostgresStore
from tests.helpers.postgres import fresh_database
from tests.helpers.stores import PostgresBackend
from tests.helpers.timeouts import EVENT

__all__: list[str] = []


@pytest.fixture
async def backend() -> AsyncIterator[PostgresBackend]:
    async with fresh_database() as url:
        yield PostgresBackend(url)


async def _terminate(backend: PostgresBackend) -> int:
    """Kill every livesync connection to the test database, as a PostgreSQL
    restart would; returns how many there were."""
    rows = await backend.fetch(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
        " WHERE datname = current_database() AND application_name = 'livesync'"
    )
    return len(rows)


async def test_writers_in_two_stores_on_one_database_are_serialized(
    backend: PostgresBackend,
) -> None:
    # Two stores stand for two processes: only the advisory lock orders them.
    first, second = backend.make(), backend.make()
    await first.open([])
    await second.open([])
    try:
        doc_id, _ = await first.write(lambda tx: tx.insert("counters", {"n": 0.0}))

        async def increment(tx: Transaction) -> None:
            doc = await tx.get(doc_id)
            assert doc is not None
            await asyncio.sleep(0)  # let the other store try to write meanwhile
            await tx.patch(doc_id, {"n": doc["n"] + 1})

        writes = [store.write(increment) for _ in range(10) for store in (first, second)]
        commits = [commit for _, commit in await asyncio.wait_for(asyncio.gather(*writes), EVENT)]
        stamps = sorted(commit.ts for commit in commits)
        assert len(set(stamps)) == len(stamps) == 20
        # Each store knows its own commits; the one that made the last reads it.
        newest = max((first, second), key=lambda store: store.latest_ts)
        doc = await newest.snapshot().get(doc_id)
        assert doc is not None and doc["n"] == 20
    finally:
        await first.close()
        await second.close()


async def test_a_store_writes_above_commits_of_another_with_a_clock_behind(
    backend: PostgresBackend,
) -> None:
    ahead, behind = backend.make(clock=lambda: 10**15), backend.make(clock=lambda: 5)
    await ahead.open([])
    await behind.open([])
    try:
        _, first = await ahead.write(lambda tx: tx.insert("t", {}))
        _, second = await behind.write(lambda tx: tx.insert("t", {}))
        assert second.ts > first.ts
    finally:
        await ahead.close()
        await behind.close()


async def test_lost_connections_fail_at_most_one_call_retryably_then_recover(
    backend: PostgresBackend,
) -> None:
    # A connection whose end asyncpg has already seen is replaced before use;
    # one that dies unnoticed fails the call on it with StoreUnavailable.
    store = backend.make()
    await store.open([])
    try:
        await store.write(lambda tx: tx.insert("t", {"n": 1.0}))
        latest = store.latest_ts
        assert await _terminate(backend) == 3  # one writer, two readers
        await asyncio.sleep(0.1)
        commit = None
        for _ in range(2):
            try:
                doc_id, commit = await store.write(lambda tx: tx.insert("t", {"n": 3.0}))
                break
            except StoreUnavailable:
                assert store.latest_ts == latest
        assert commit is not None and commit.ts > latest
        found = []
        for _ in range(3):
            try:
                found.append(await store.snapshot().get(doc_id))
            except StoreUnavailable:
                continue
        assert found and found[-1] is not None and found[-1]["n"] == 3.0
    finally:
        await store.close()


async def test_errors_of_the_database_are_store_errors(backend: PostgresBackend) -> None:
    store = backend.make()
    await store.open([])
    try:
        with pytest.raises(StoreError):
            await store.get_mutation_result("s", 2**63)

        async def hostile(tx: Transaction) -> None:
            await tx.record_mutation_result("s", 2**63, "null", "fp")

        with pytest.raises(StoreError):
            await store.write(hostile)
        # The writer is usable afterwards.
        await store.write(lambda tx: tx.insert("t", {}))
    finally:
        await store.close()


async def test_a_store_holds_three_connections(backend: PostgresBackend) -> None:
    store = backend.make()
    await store.open([])
    try:
        await asyncio.gather(*(store.snapshot().get("x") for _ in range(20)))
        rows = await backend.fetch(
            "SELECT count(*) FROM pg_stat_activity"
            " WHERE datname = current_database() AND application_name = 'livesync'"
        )
        assert rows == [(3,)]
    finally:
        await store.close()


async def test_a_closed_store_refuses_work(backend: PostgresBackend) -> None:
    store = PostgresStore(backend.url)
    await store.open([])
    await store.close()
    with pytest.raises(StoreError, match="not open"):
        await store.snapshot().get("x")
    with pytest.raises(StoreError, match="not open"):
        await store.write(lambda tx: tx.insert("t", {}))
