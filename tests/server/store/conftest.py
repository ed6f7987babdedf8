"""A real SQLite store in a temporary folder, with one schema index."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from server.store.base import IndexDef
from server.store.sqlite import SqliteStore

BY_CHANNEL = IndexDef("messages", "messages.by_channel", ("channel",))


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SqliteStore]:
    store = SqliteStore(tmp_path / "db.sqlite")
    await store.open([BY_CHANNEL])
    yield store
    await store.close()
