"""What stored files are: a document in `_storage` (Convex's fields:
`sha256` in base64, `size`, `contentType`) and a file of the same id in the
`FileStore`; and upload URLs, each a document in `_storage_uploads`
(`expiresAt`, ms) whose id is the URL's token, deleted by the upload that
uses it, so a URL works once, and only before it expires.
"""

from __future__ import annotations

import fnmatch
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from server.config import StorageConfig
from server.errors import FunctionError
from server.storage.files import FileStore
from server.store.base import Document, Snapshot, Transaction
from server.store.catalog import STORAGE, STORAGE_UPLOADS
from server.store.ids import id_matches_table, new_id
from server.store.keys import encode_tuple

__all__ = ["Storage", "UploadRefused"]

Transact = Callable[[Callable[[Transaction], Awaitable[Any]]], Awaitable[Any]]


class UploadRefused(FunctionError):
    """An upload URL that is not (or no longer) valid."""


class Storage:
    """The file store and its rules, shared by every function and route."""

    def __init__(
        self,
        files: FileStore,
        settings: StorageConfig,
        public_url: str,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.files = files
        self.settings = settings
        self.public_url = public_url.rstrip("/")
        self._clock = clock

    def file_url(self, storage_id: str) -> str:
        return f"{self.public_url}/api/storage/{storage_id}"

    def allows(self, content_type: str) -> bool:
        media = content_type.split(";", 1)[0].strip().lower()
        if media.count("/") != 1 or not all(media.split("/")):
            return False
        return any(fnmatch.fnmatchcase(media, p.lower()) for p in self.settings.content_types)

    # In a transaction (a mutation's, or one of its own).

    async def new_upload_url(self, tx: Transaction) -> str:
        expires = (self._clock() + self.settings.upload_url_ttl) * 1000
        token = await tx.insert(STORAGE_UPLOADS, {"expiresAt": expires}, system=True)
        return f"{self.public_url}/api/storage/upload?token={token}"

    async def delete(self, tx: Transaction, storage_id: str) -> None:
        """Delete the file's document; the file itself goes at the next sweep
        (after the commit, which a mutation may still not reach)."""
        if await self.metadata(tx.get, storage_id) is None:
            raise FunctionError(f"No stored file has the id {storage_id!r}")
        await tx.delete(storage_id, system=True)

    async def metadata(
        self, get: Callable[[str], Awaitable[Document | None]], storage_id: str
    ) -> dict[str, Any] | None:
        if not isinstance(storage_id, str) or not id_matches_table(storage_id, STORAGE):
            return None
        doc = await get(storage_id)
        if doc is None:
            return None
        return {
            "storageId": storage_id,
            "sha256": doc["sha256"],
            "size": doc["size"],
            "contentType": doc.get("contentType"),
        }

    # Outside any transaction: the file first, then its document.

    async def check_upload(
        self, get: Callable[[str], Awaitable[Document | None]], token: str
    ) -> None:
        """Refuse an upload URL that is unknown, used or expired."""
        doc = await get(token) if id_matches_table(token, STORAGE_UPLOADS) else None
        if doc is None or doc["expiresAt"] < self._clock() * 1000:
            raise UploadRefused("This upload URL is unknown, already used, or expired")

    async def accept(
        self,
        transact: Transact,
        token: str | None,
        chunks: AsyncIterator[bytes],
        content_type: str | None,
    ) -> str:
        """Store a file (from an upload URL's `token`, or None from an
        action) and commit its document; returns its storage id."""
        storage_id = new_id(STORAGE)
        size, sha256 = await self.files.receive(storage_id, chunks, self.settings.max_file_bytes)
        meta: dict[str, Any] = {"sha256": sha256, "size": float(size)}
        if content_type:
            meta["contentType"] = content_type

        async def record(tx: Transaction) -> None:
            if token is not None:
                await self.check_upload(tx.get, token)
                await tx.delete(token, system=True)  # used: the URL works once
            await tx.insert(STORAGE, meta, system=True, id=storage_id)

        try:
            await transact(record)
        except BaseException:
            await self.files.remove(storage_id)
            raise
        return storage_id

    async def sweep(self, snapshot: Snapshot, transact: Transact) -> tuple[int, int]:
        """Remove files whose document is gone (deleted, or an upload whose
        commit never came), and upload URLs past their expiry. Returns
        (files, URLs) removed. A file younger than an upload URL's lifetime
        is left alone: its upload may still be committing."""
        files = 0
        for storage_id in await self.files.older_than(self.settings.upload_url_ttl):
            if await snapshot.get(storage_id) is None:
                await self.files.remove(storage_id)
                files += 1
        now = self._clock() * 1000
        start = encode_tuple([])
        expired = [
            doc["_id"]
            async for _, doc in snapshot.scan(f"{STORAGE_UPLOADS}.by_creation_time", start, None)
            if doc["expiresAt"] < now
        ]

        async def forget(tx: Transaction) -> None:
            for token in expired:
                if await tx.get(token) is not None:
                    await tx.delete(token, system=True)

        if expired:
            await transact(forget)
        return files, len(expired)
