"""Stored files in a folder: one file per storage id.

An upload streams into `incoming/<id>.part`, hashing as it goes, and is
renamed into place once complete and synced; the caller then commits its
`_storage` document, or removes the file. Nodes sharing a database share
the folder too (a network volume), or use the S3 backend instead.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import BinaryIO

from starlette.responses import FileResponse, Response

from server.storage.files import CHUNK_BYTES, FileStore, Received
from server.store.catalog import STORAGE
from server.store.ids import id_matches_table

__all__ = ["FolderFiles"]


class FolderFiles(FileStore):
    """Files by storage id under `folder`."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._incoming = folder / "incoming"
        self._incoming.mkdir(parents=True, exist_ok=True)

    async def open(self) -> None:
        pass  # the folder exists since __init__; nothing else to check

    async def close(self) -> None:
        pass

    def path(self, storage_id: str) -> Path | None:
        """Where the file of `storage_id` is, or None for no such id."""
        if not id_matches_table(storage_id, STORAGE):
            return None  # also keeps any other name out of the folder's paths
        return self.folder / storage_id

    async def receive(
        self, storage_id: str, chunks: AsyncIterator[bytes], limit: int
    ) -> tuple[int, str]:
        final = self.path(storage_id)
        assert final is not None
        part = self._incoming / f"{storage_id}.part"
        received = Received(limit)
        out: BinaryIO = await asyncio.to_thread(open, part, "wb")
        try:
            async for chunk in chunks:
                received.add(chunk)
                await asyncio.to_thread(out.write, chunk)
            await asyncio.to_thread(_sync_and_close, out)
            os.replace(part, final)
        except BaseException:
            out.close()
            part.unlink(missing_ok=True)
            raise
        return received.result()

    async def chunks(self, storage_id: str) -> AsyncIterator[bytes]:
        path = self.path(storage_id)
        if path is None:
            raise FileNotFoundError(storage_id)
        source: BinaryIO = await asyncio.to_thread(open, path, "rb")
        try:
            while chunk := await asyncio.to_thread(source.read, CHUNK_BYTES):
                yield chunk
        finally:
            source.close()

    async def response(
        self, storage_id: str, size: int, headers: Mapping[str, str], method: str
    ) -> Response | None:
        path = self.path(storage_id)
        if path is None or not path.is_file():
            return None
        return FileResponse(path)  # Starlette answers Range and HEAD itself

    async def remove(self, storage_id: str) -> None:
        path = self.path(storage_id)
        if path is not None:
            path.unlink(missing_ok=True)

    async def older_than(self, seconds: float) -> list[str]:
        horizon = time.time() - seconds
        for entry in os.scandir(self._incoming):
            if entry.is_file() and entry.stat().st_mtime < horizon:
                os.unlink(entry.path)  # left by a process that died mid-upload
        return [
            entry.name
            for entry in os.scandir(self.folder)
            if entry.is_file() and entry.stat().st_mtime < horizon
        ]


def _sync_and_close(out: BinaryIO) -> None:
    out.flush()
    os.fsync(out.fileno())
    out.close()
