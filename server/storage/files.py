"""Where stored files' bytes live, behind one interface: a folder beside the
database (`folder.py`, the default) or an S3-compatible bucket (`s3.py`, for
nodes that share no disk). Each file is named by its storage id and never
changes once written; its `_storage` document is the service's business.
"""

from __future__ import annotations

import base64
import hashlib
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Mapping
from pathlib import Path

from starlette.responses import Response

from server.config import Config
from server.errors import LimitExceeded

__all__ = ["FileStore", "Received", "open_file_store", "storage_folder"]

# How much of a file a read or a download holds at once.
CHUNK_BYTES = 256 * 1024


class FileStore(ABC):
    """The bytes of stored files, by storage id (ids of the `_storage` table:
    implementations refuse any other name, so no id reaches outside)."""

    @abstractmethod
    async def open(self) -> None:
        """Check the store is usable; raises `ConfigError` if not."""

    @abstractmethod
    async def close(self) -> None:
        pass

    @abstractmethod
    async def receive(
        self, storage_id: str, chunks: AsyncIterator[bytes], limit: int
    ) -> tuple[int, str]:
        """Write the file of `storage_id` from `chunks`, never whole in memory;
        returns (size, sha256 in base64). Past `limit` bytes raises
        `LimitExceeded` and keeps nothing; so does any other failure."""

    async def store(self, storage_id: str, data: bytes, limit: int) -> tuple[int, str]:
        async def one() -> AsyncIterator[bytes]:
            yield data

        return await self.receive(storage_id, one(), limit)

    @abstractmethod
    def chunks(self, storage_id: str) -> AsyncIterator[bytes]:
        """The file's bytes in pieces of at most `CHUNK_BYTES`; raises
        `FileNotFoundError` (at the first piece) when there is no such file."""

    async def read(self, storage_id: str) -> bytes | None:
        try:
            return b"".join([chunk async for chunk in self.chunks(storage_id)])
        except FileNotFoundError:
            return None

    @abstractmethod
    async def response(
        self, storage_id: str, size: int, headers: Mapping[str, str], method: str
    ) -> Response | None:
        """The HTTP answer serving the file (`size` bytes, as its document
        says) to a request with `headers` (a Range, say); None if missing.
        The caller adds the content type, ETag and caching headers."""

    @abstractmethod
    async def remove(self, storage_id: str) -> None:
        """Delete the file; a missing one is not an error."""

    @abstractmethod
    async def older_than(self, seconds: float) -> list[str]:
        """Storage ids of files written more than `seconds` ago; also drops
        partial uploads that old (a process that died mid-upload)."""


class Received:
    """Counts and hashes an upload's bytes as they pass, within a limit."""

    __slots__ = ("_digest", "limit", "size")

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.size = 0
        self._digest = hashlib.sha256()

    def add(self, chunk: bytes) -> None:
        self.size += len(chunk)
        if self.size > self.limit:
            raise LimitExceeded(f"File too large (the limit is {self.limit:,} bytes)")
        self._digest.update(chunk)

    def result(self) -> tuple[int, str]:
        return self.size, base64.b64encode(self._digest.digest()).decode()


def storage_folder(config: Config) -> Path:
    """`[storage] dir`, or its default beside the database."""
    if config.storage.dir is not None:
        return config.storage.dir
    return config.data_dir / "storage"


def open_file_store(config: Config) -> FileStore:
    """The backend `[storage] backend` names (call `open()` before use)."""
    if config.storage.s3 is not None:
        from server.storage.s3 import S3Files

        return S3Files(config.storage.s3)
    from server.storage.folder import FolderFiles

    return FolderFiles(storage_folder(config))
