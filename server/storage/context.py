"""`ctx.storage`: stored files from functions, as Convex offers them.

    url = await ctx.storage.generate_upload_url()   # mutations, actions
    await ctx.storage.get_url(storage_id)           # str, or None when gone
    await ctx.storage.get_metadata(storage_id)      # {storageId, sha256, size, contentType}
    await ctx.storage.delete(storage_id)            # mutations, actions
    storage_id = await ctx.storage.store(data, content_type)   # actions
    data = await ctx.storage.get(storage_id)                   # actions: bytes, or None

Queries and mutations read a file's document through `ctx.db.system`, so a
subscriber of `get_url` hears of the file's deletion like any other change.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, NoReturn

from server.errors import FunctionError
from server.functions.database import DatabaseReader
from server.storage.service import Storage, Transact
from server.store.base import Store, Transaction

__all__ = ["ActionStorage", "ActionStorageOps", "MutationStorage", "QueryStorage"]


def _unavailable() -> NoReturn:
    raise FunctionError("File storage is not set up on this server")


class QueryStorage:
    """`ctx.storage` in a query: reads."""

    __slots__ = ("_db", "_storage")

    def __init__(self, storage: Storage | None, db: DatabaseReader) -> None:
        self._storage = storage
        self._db = db

    def _need(self) -> Storage:
        return self._storage if self._storage is not None else _unavailable()

    async def get_url(self, storage_id: str) -> str | None:
        storage = self._need()
        found = await storage.metadata(self._db.system.get, storage_id)
        return None if found is None else storage.file_url(storage_id)

    async def get_metadata(self, storage_id: str) -> dict[str, Any] | None:
        return await self._need().metadata(self._db.system.get, storage_id)


class MutationStorage(QueryStorage):
    """`ctx.storage` in a mutation: its writes join the mutation's transaction."""

    __slots__ = ("_tx",)

    def __init__(self, storage: Storage | None, db: DatabaseReader, tx: Transaction) -> None:
        super().__init__(storage, db)
        self._tx = tx

    async def generate_upload_url(self) -> str:
        """A URL to POST one file to, usable once, if this mutation commits."""
        return await self._need().new_upload_url(self._tx)

    async def delete(self, storage_id: str) -> None:
        await self._need().delete(self._tx, storage_id)


class ActionStorageOps:
    """The serving loop's side of an action's `ctx.storage`."""

    def __init__(self, storage: Storage | None, store: Store, transact: Transact | None) -> None:
        self._storage = storage
        self._store = store
        self._transact = transact

    def _need(self) -> tuple[Storage, Transact]:
        if self._storage is None or self._transact is None:
            _unavailable()
        return self._storage, self._transact

    async def get_url(self, storage_id: str) -> str | None:
        storage, _ = self._need()
        found = await storage.metadata(self._store.snapshot().get, storage_id)
        return None if found is None else storage.file_url(storage_id)

    async def get_metadata(self, storage_id: str) -> dict[str, Any] | None:
        storage, _ = self._need()
        return await storage.metadata(self._store.snapshot().get, storage_id)

    async def generate_upload_url(self) -> str:
        storage, transact = self._need()
        url: str = await transact(storage.new_upload_url)
        return url

    async def delete(self, storage_id: str) -> None:
        storage, transact = self._need()
        await transact(lambda tx: storage.delete(tx, storage_id))

    async def store(self, data: bytes, content_type: str | None) -> str:
        storage, transact = self._need()
        if not isinstance(data, (bytes, bytearray)):
            raise FunctionError(f"ctx.storage.store takes bytes, got {type(data).__name__}")
        if content_type is not None and not storage.allows(content_type):
            raise FunctionError(f"Content type {content_type!r} is not allowed ([storage])")

        async def one() -> AsyncIterator[bytes]:
            yield bytes(data)

        return await storage.accept(transact, None, one(), content_type)

    async def get(self, storage_id: str) -> bytes | None:
        storage, _ = self._need()
        if await storage.metadata(self._store.snapshot().get, storage_id) is None:
            return None
        return await storage.files.read(storage_id)


class ActionStorage:
    """`ctx.storage` in an action: each call runs on the serving loop."""

    __slots__ = ("_call", "_ops")

    def __init__(self, ops: ActionStorageOps, call: Callable[..., Awaitable[Any]]) -> None:
        self._ops = ops
        self._call = call  # bridge.call: runs a coroutine function on the loop

    async def get_url(self, storage_id: str) -> str | None:
        url: str | None = await self._call(self._ops.get_url, storage_id)
        return url

    async def get_metadata(self, storage_id: str) -> dict[str, Any] | None:
        found: dict[str, Any] | None = await self._call(self._ops.get_metadata, storage_id)
        return found

    async def generate_upload_url(self) -> str:
        url: str = await self._call(self._ops.generate_upload_url)
        return url

    async def delete(self, storage_id: str) -> None:
        await self._call(self._ops.delete, storage_id)

    async def store(self, data: bytes, content_type: str | None = None) -> str:
        storage_id: str = await self._call(self._ops.store, data, content_type)
        return storage_id

    async def get(self, storage_id: str) -> bytes | None:
        data: bytes | None = await self._call(self._ops.get, storage_id)
        return data
