"""One server per SQLite file: a second store on the same file refuses to open."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from server.errors import DatabaseInUse
from server.store.sqlite import SqliteStore


async def test_a_second_store_on_the_same_file_refuses_to_open(tmp_path: Path) -> None:
    path = tmp_path / "app.db"
    first = SqliteStore(path)
    await first.open([])
    second = SqliteStore(path)
    try:
        with pytest.raises(DatabaseInUse) as caught:
            await second.open([])
        message = str(caught.value)
        assert str(path) in message and f"process {os.getpid()}" in message
        assert "use PostgreSQL" in message and "\n" not in message
    finally:
        await first.close()
    await second.open([])  # free again once the first is closed
    await second.close()


async def test_a_memory_database_takes_no_lock(tmp_path: Path) -> None:
    first, second = SqliteStore(":memory:"), SqliteStore(":memory:")
    await first.open([])
    await second.open([])
    await first.close()
    await second.close()
