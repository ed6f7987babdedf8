"""The folder stored files live in: one file per storage id.

An upload streams into `incoming/<id>.part` (never whole in memory),
hashing as it goes, and is renamed into place once complete and synced;
the caller then commits its `_storage` document, or removes the file.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import os
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import BinaryIO

from server.errors import LimitExceeded
from server.store.catalog import STORAGE
from server.store.ids import id_matches_table

__all__ = ["FileStore"]


class FileStore:
    """Files by storage id under `folder`."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._incoming = folder / "incoming"
        self._incoming.mkdir(parents=True, exist_ok=True)

    def path(self, storage_id: str) -> Path | None:
        """Where the file of `storage_id` is, or None for no such id."""
        if not id_matches_table(storage_id, STORAGE):
            return None  # also keeps any other name out of the folder's paths
        return self.folder / storage_id

    async def receive(
        self, storage_id: str, chunks: AsyncIterator[bytes], limit: int
    ) -> tuple[int, str]:
        """Write the file of `storage_id` from `chunks`; returns (size, sha256
        in base64). Raises `LimitExceeded` past `limit` bytes (nothing kept)."""
        final = self.path(storage_id)
        assert final is not None
        part = self._incoming / f"{storage_id}.part"
        digest = hashlib.sha256()
        size = 0
        out: BinaryIO = await asyncio.to_thread(open, part, "wb")
        try:
            async for chunk in chunks:
                size += len(chunk)
                if size > limit:
                    raise LimitExceeded(f"File too large (the limit is {limit:,} bytes)")
                digest.update(chunk)
                await asyncio.to_thread(out.write, chunk)
            await asyncio.to_thread(_sync_and_close, out)
            os.replace(part, final)
        except BaseException:
            out.close()
            part.unlink(missing_ok=True)
            raise
        return size, base64.b64encode(digest.digest()).decode()

    async def store(self, storage_id: str, data: bytes, limit: int) -> tuple[int, str]:
        async def one() -> AsyncIterator[bytes]:
            yield data

        return await self.receive(storage_id, one(), limit)

    async def read(self, storage_id: str) -> bytes | None:
        path = self.path(storage_id)
        if path is None:
            return None
        try:
            return await asyncio.to_thread(path.read_bytes)
        except FileNotFoundError:
            return None

    def remove(self, storage_id: str) -> None:
        path = self.path(storage_id)
        if path is not None:
            path.unlink(missing_ok=True)

    def older_than(self, seconds: float) -> list[str]:
        """Storage ids of files written more than `seconds` ago."""
        horizon = time.time() - seconds
        return [
            entry.name
            for entry in os.scandir(self.folder)
            if entry.is_file() and entry.stat().st_mtime < horizon
        ]


def _sync_and_close(out: BinaryIO) -> None:
    out.flush()
    os.fsync(out.fileno())
    out.close()
