"""What only the SQLite store has: memory databases, the synchronous option,
and the in-process headroom left for creation times after a restart. The
backend-neutral tests are in test_store.py."""

from __future__ import annotations

from pathlib import Path

import pytest

from server.errors import ConfigError
from server.store.sqlite import SqliteStore

from .conftest import BY_CHANNEL
from .test_store import channel, insert


async def test_in_memory_store_works_end_to_end() -> None:
    store = SqliteStore(":memory:")
    await store.open([BY_CHANNEL])
    try:
        doc_id = await insert(store, "messages", {"channel": "a"})
        assert [d["_id"] for d in await channel(store.snapshot(), "a")] == [doc_id]
    finally:
        await store.close()


def test_an_unknown_synchronous_mode_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="synchronous"):
        SqliteStore(tmp_path / "db.sqlite", synchronous="SOMETIMES")


async def test_a_reopened_file_starts_a_millisecond_above_its_latest_ts(tmp_path: Path) -> None:
    # SQLite does not store the last _creationTime; a restart leaves 1 ms of
    # headroom above latest_ts for the inserts of the last transaction.
    path = tmp_path / "db.sqlite"
    store = SqliteStore(path, clock=lambda: 1_000)
    await store.open([])
    await store.write(lambda tx: tx.insert("t", {}))
    await store.close()
    reopened = SqliteStore(path, clock=lambda: 5)
    await reopened.open([])
    try:
        _, commit = await reopened.write(lambda tx: tx.insert("t", {}))
        assert commit.ts == 1_000 + 1_000_000 + 1
    finally:
        await reopened.close()
