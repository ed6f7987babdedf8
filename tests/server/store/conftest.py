"""A real store of each backend on an empty database, with one schema index."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from server.store.base import IndexDef, Store
from tests.helpers.stores import StoreBackend

BY_CHANNEL = IndexDef("messages", "messages.by_channel", ("channel",))


@pytest.fixture
async def store(store_backend: StoreBackend) -> AsyncIterator[Store]:
    store = store_backend.make()
    await store.open([BY_CHANNEL])
    yield store
    await store.close()
