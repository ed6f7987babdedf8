"""`livesync import`: a snapshot ZIP into a deployment, through its normal commits.

Theory of operation. An import runs in two passes over the ZIP. The check
pass reads every document and stored file and refuses, before anything is
written, whatever the deployment would not hold: a line that is not a
Convex JSON document, an `_id` of another table or seen twice, a document
that breaks the app's schema or the size limits, a stored file missing or
not matching its metadata, and (without `--replace` or `--append`) a table
that already holds documents, or (with `--append`) an id already there.

The load pass then writes through `Store.write`, as mutations do, in
batches of a few thousand documents: indexes and search indexes are built
by the commit, and on PostgreSQL running servers learn of each batch from
the commit log and its notification. Documents keep their `_id` and
`_creationTime`; each batch's stored files are written before the batch
commits (a file whose document never commits is an orphan the server's
sweep removes). Tables load in order: the app's, then `_storage`, then the
scheduler's, so a job never runs before the documents it may read.

What cannot be checked ahead (the database failing half way) leaves the
batches committed so far; the error says how many, and the same import with
`--replace` starts over. `--replace` empties the imported tables only after
the check pass succeeded.
"""

from __future__ import annotations

import base64
import hashlib
import json
import math
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from protocol.errors import ValueDecodeError, ValueEncodeError
from protocol.values import decode, dumps, encode
from server.backup.archive import SnapshotReader
from server.backup.progress import Progress
from server.config import Limits
from server.errors import SchemaError, SnapshotError, StoreError
from server.functions.schema import Schema
from server.limits import nesting_refusal, size_refusal, text_size
from server.storage.files import FileStore
from server.store.base import Snapshot, Store, Transaction
from server.store.catalog import (
    CRON_JOBS,
    SCHEDULED_FUNCTIONS,
    STORAGE,
    SYSTEM_TABLES,
    user_fields,
)
from server.store.ids import id_matches_table
from server.store.keys import encode_tuple

__all__ = ["BATCH_BYTES", "BATCH_DOCUMENTS", "ImportSummary", "Importer", "Mode"]

Mode = Literal["empty", "replace", "append"]

BATCH_DOCUMENTS = 2000
"""Documents per commit: few enough to keep a commit's rows in memory and
the write lock short, many enough that commits do not dominate."""
BATCH_BYTES = 8 * 1024 * 1024
"""JSON text per commit, whatever the count."""

_LAST_TABLES = (STORAGE, SCHEDULED_FUNCTIONS, CRON_JOBS)

Row = tuple[str, float, dict[str, Any]]
"""(id, _creationTime, user fields) of a document to insert."""


@dataclass(frozen=True, slots=True)
class ImportSummary:
    tables: int
    documents: int
    files: int


class Importer:
    """Loads one snapshot ZIP into one open store and its file store."""

    def __init__(
        self,
        reader: SnapshotReader,
        store: Store,
        files: FileStore,
        *,
        schema: Schema | None,
        limits: Limits,
        max_file_bytes: int,
        progress: Progress,
    ) -> None:
        self._reader = reader
        self._store = store
        self._files = files
        self._schema = schema
        self._limits = limits
        self._max_file_bytes = max_file_bytes
        self._progress = progress

    async def run(self, table: str | None = None, mode: Mode = "empty") -> ImportSummary:
        """Import every table of the ZIP (or only `table`).

        Raises:
            SnapshotError: the ZIP or a document in it is refused (nothing
                written), or the database failed during the load.
        """
        tables = self._tables(table)
        total = sum(self._reader.manifest.tables[t] for t in tables)
        snapshot = self._store.snapshot()
        if mode == "empty":
            await self._require_empty(snapshot, tables)
        with self._progress.step("checking", total=total) as step:
            for name in tables:
                await self._check_table(snapshot, name, mode, step.advance)
        if mode == "replace":
            for name in tables:
                await self._clear(name)
        files = await self._load(tables, total)
        # Commits after the import start above every imported _creationTime,
        # also on SQLite, which derives that floor from the newest commit.
        await self._store.write(_nothing)
        return ImportSummary(len(tables), total, files)

    def _tables(self, table: str | None) -> list[str]:
        names = list(self._reader.manifest.tables)
        if table is not None:
            if table not in names:
                raise SnapshotError(f"{self._reader.path} has no table {table!r}")
            names = [table]
        first = sorted(t for t in names if t not in SYSTEM_TABLES)
        return first + [t for t in _LAST_TABLES if t in names]

    async def _require_empty(self, snapshot: Snapshot, tables: Sequence[str]) -> None:
        for table in tables:
            if await _first_id(snapshot, table) is not None:
                raise SnapshotError(
                    f"table {table} already holds documents: import into an empty "
                    "deployment, or pass --replace or --append"
                )

    # The check pass.

    async def _check_table(
        self, snapshot: Snapshot, table: str, mode: Mode, advance: Callable[[], None]
    ) -> None:
        seen: set[str] = set()
        for number, line in self._reader.lines(table):
            doc_id, _, fields = self._row(table, number, line)
            if doc_id in seen:
                raise SnapshotError(f"{_where(table, number)}: _id {doc_id} appears twice")
            seen.add(doc_id)
            if mode == "append" and await snapshot.get(doc_id) is not None:
                raise SnapshotError(
                    f"{_where(table, number)}: a document with _id {doc_id} is already in "
                    "the deployment (--append adds, it does not overwrite)"
                )
            if table == STORAGE:
                self._check_file(number, doc_id, fields)
            advance()

    def _row(self, table: str, number: int, line: str) -> Row:
        """The document on `line`, as it will be inserted."""
        where = _where(table, number)
        try:
            value = decode(json.loads(line))
        except (ValueError, ValueDecodeError) as exc:
            raise SnapshotError(f"{where}: not a Convex JSON document ({exc})") from None
        if not isinstance(value, dict):
            raise SnapshotError(f"{where}: a document must be an object")
        doc_id, created = value.pop("_id", None), value.pop("_creationTime", None)
        if not isinstance(doc_id, str) or not id_matches_table(doc_id, table):
            raise SnapshotError(f"{where}: _id {doc_id!r} is not an id of table {table}")
        if not isinstance(created, int | float) or not _is_time(created):
            raise SnapshotError(f"{where}: _creationTime {created!r} is not a time in ms")
        try:
            fields = user_fields(value)
            if self._schema is not None and table not in SYSTEM_TABLES:
                fields = dict(self._schema.validate_document(table, fields))
            refusal = self._limit_refusal(fields)
        except SchemaError as exc:
            raise SnapshotError(f"{where}: {exc}") from None
        if refusal is not None:
            raise SnapshotError(f"{where}: {refusal}")
        return doc_id, float(created), fields

    def _limit_refusal(self, fields: dict[str, Any]) -> str | None:
        try:
            size = text_size(dumps(encode(fields)))
        except ValueEncodeError as exc:
            return f"not a valid Convex value ({exc})"
        return nesting_refusal(fields, self._limits.document_depth) or size_refusal(
            "Document is", size, self._limits.document_bytes
        )

    def _check_file(self, number: int, storage_id: str, meta: dict[str, Any]) -> None:
        where = _where(STORAGE, number)
        size = self._reader.file_size(storage_id)
        if size is None:
            raise SnapshotError(f"{where}: the ZIP lacks the file of {storage_id}")
        if size != meta.get("size"):
            raise SnapshotError(
                f"{where}: the file of {storage_id} is not {meta.get('size')} bytes"
            )
        if size > self._max_file_bytes:
            raise SnapshotError(
                f"{where}: the file of {storage_id} is {size:,} bytes, more than "
                f"[storage] max_file_bytes ({self._max_file_bytes:,})"
            )
        digest = hashlib.sha256()
        for chunk in self._reader.file_chunks(storage_id):
            digest.update(chunk)
        if base64.b64encode(digest.digest()).decode() != meta.get("sha256"):
            raise SnapshotError(f"{where}: the file of {storage_id} does not match its sha256")

    # The load pass.

    async def _clear(self, table: str) -> None:
        with self._progress.step(f"clearing {table}") as step:
            while ids := await _some_ids(self._store.snapshot(), table, BATCH_DOCUMENTS):

                async def delete(tx: Transaction, ids: list[str] = ids) -> None:
                    for doc_id in ids:
                        if await tx.get(doc_id) is not None:
                            await tx.delete(doc_id, system=True)

                await self._store.write(delete)
                step.advance(len(ids))

    async def _load(self, tables: Sequence[str], total: int) -> int:
        files = 0
        with self._progress.step("importing", total=total) as step:
            try:
                for table in tables:
                    step.note(table)
                    for batch in self._batches(table):
                        if table == STORAGE:
                            files += await self._store_files(batch)
                        await self._store.write(_inserter(table, batch, not self._store.exclusive))
                        step.advance(len(batch))
            except StoreError as exc:
                raise SnapshotError(
                    f"the database failed after {step.done:,} of {total:,} documents were "
                    f"imported ({exc}); those stay: import again with --replace to start over"
                ) from None
        return files

    def _batches(self, table: str) -> Iterator[list[Row]]:
        batch: list[Row] = []
        size = 0
        for number, line in self._reader.lines(table):
            batch.append(self._row(table, number, line))
            size += len(line)
            if len(batch) >= BATCH_DOCUMENTS or size >= BATCH_BYTES:
                yield batch
                batch, size = [], 0
        if batch:
            yield batch

    async def _store_files(self, batch: list[Row]) -> int:
        for storage_id, _, _ in batch:
            chunks = _async(self._reader.file_chunks(storage_id))
            await self._files.receive(storage_id, chunks, self._max_file_bytes)
        return len(batch)


def _inserter(
    table: str, batch: list[Row], shared: bool
) -> Callable[[Transaction], Awaitable[None]]:
    async def insert(tx: Transaction) -> None:
        for doc_id, created, fields in batch:
            # The check pass saw no such id. Only on a shared database could
            # another process (a second import of the same snapshot) have
            # written one since; SQLite's file lock rules that out.
            if shared and await tx.get(doc_id) is not None:
                raise SnapshotError(f"a document with _id {doc_id} appeared during the import")
            await tx.insert(table, fields, system=True, id=doc_id, creation_time=created)

    return insert


async def _nothing(tx: Transaction) -> None:
    return None


async def _first_id(snapshot: Snapshot, table: str) -> str | None:
    ids = await _some_ids(snapshot, table, 1)
    return ids[0] if ids else None


async def _some_ids(snapshot: Snapshot, table: str, limit: int) -> list[str]:
    ids: list[str] = []
    rows = snapshot.scan(f"{table}.by_creation_time", encode_tuple([]), None)
    try:
        async for _, doc in rows:
            ids.append(doc["_id"])
            if len(ids) >= limit:
                break
    finally:
        closer = getattr(rows, "aclose", None)  # a scan stopped early
        if closer is not None:
            await closer()
    return ids


async def _async(chunks: Iterator[bytes]) -> AsyncIterator[bytes]:
    for chunk in chunks:
        yield chunk


def _is_time(value: object) -> bool:
    return (
        isinstance(value, int | float)
        and not isinstance(value, bool)
        and math.isfinite(value)
        and value > 0
    )


def _where(table: str, number: int) -> str:
    return f"{table}/documents.jsonl line {number}"
