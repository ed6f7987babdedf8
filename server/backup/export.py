"""`livesync export`: every table at one snapshot timestamp, into a ZIP.

Theory of operation. The export reads one `Snapshot` of a store opened
read-only, so it sees the database exactly as of one commit however long it
runs, while servers go on committing (MVCC: every version is kept with its
commit ts). What a snapshot needs could only be lost to the server's vacuum,
which deletes versions older than the newest commit minus
`app.HISTORY_RETENTION_NS`; so when the export is done it checks that the
database has not moved that far past its snapshot, and fails rather than
write a ZIP that might be inconsistent.

System tables: `_storage` (the files' metadata) goes along with the files;
`_scheduled_functions` and `_cron_jobs` too, so pending jobs run and cron
jobs keep their times on the deployment the snapshot is imported into, and
a job id an app kept still names its job. `_storage_uploads` stays behind:
its upload URLs live minutes and name the exporting server.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from server.backup.archive import Manifest, SnapshotWriter
from server.backup.progress import Progress
from server.errors import SnapshotError
from server.functions.schema import Schema
from server.storage.files import FileStore
from server.store.base import Snapshot, Store
from server.store.catalog import STORAGE, TRANSIENT_TABLES, dump_document
from server.store.keys import encode_tuple
from server.upkeep import HISTORY_RETENTION_NS

__all__ = ["export_snapshot", "schema_description"]


async def export_snapshot(
    store: Store,
    files: FileStore,
    path: Path,
    progress: Progress,
    schema: dict[str, Any],
) -> Manifest:
    """Write every table of `store` (open) at its latest commit, and the
    stored files, to the new ZIP `path`.

    Raises:
        SnapshotError: `path` exists or cannot be written, a stored file
            is missing, or the snapshot may have been vacuumed meanwhile.
    """
    snapshot = store.snapshot()
    tables = [t for t in await store.tables(snapshot.ts) if t not in TRANSIENT_TABLES]
    tables = sorted(set(tables) | set(schema["tables"]))
    writer = SnapshotWriter(path)
    try:
        with progress.step("exporting documents") as step:
            storage_ids = await _write_tables(snapshot, tables, writer, step.advance)
        with progress.step("exporting files", total=len(storage_ids), unit="file") as step:
            for storage_id in storage_ids:
                await _write_file(files, storage_id, writer)
                step.advance()
        await _check_still_consistent(store, snapshot.ts)
        return writer.finish(snapshot.ts, schema)
    except BaseException:
        writer.abort()
        raise


async def _write_tables(
    snapshot: Snapshot, tables: list[str], writer: SnapshotWriter, advance: Callable[[], None]
) -> list[str]:
    """Write each table's documents in creation order; returns the storage ids."""
    storage_ids: list[str] = []
    for table in tables:
        with writer.table(table) as out:
            rows = snapshot.scan(f"{table}.by_creation_time", encode_tuple([]), None)
            async for _, doc in rows:
                out.write(dump_document(doc))
                if table == STORAGE:
                    storage_ids.append(doc["_id"])
                advance()
    return storage_ids


async def _write_file(files: FileStore, storage_id: str, writer: SnapshotWriter) -> None:
    """Copy one stored file into the ZIP a chunk at a time."""
    try:
        with writer.file(storage_id) as out:
            async for chunk in files.chunks(storage_id):
                out.write(chunk)
    except FileNotFoundError:
        raise SnapshotError(
            f"stored file {storage_id} is gone (deleted after the snapshot, or lost): export again"
        ) from None


async def _check_still_consistent(store: Store, ts: int) -> None:
    behind = await store.newest_ts() - ts
    if behind > HISTORY_RETENTION_NS:
        raise SnapshotError(
            f"the database moved {behind / 1e9:.0f} s past the export's snapshot while it ran, "
            f"more than the {HISTORY_RETENTION_NS // 10**9} s of history servers keep, so "
            "what it read may be incomplete: export again while the deployment is quieter"
        )


def schema_description(schema: Schema | None) -> dict[str, Any]:
    """`schema.json`: the exporting app's tables (from its schema.py) with
    their document validators (Convex's validator JSON) and indexes."""
    tables: dict[str, Any] = {}
    for name, table in (schema.tables if schema is not None else {}).items():
        tables[name] = {
            "document": None if table.document is None else table.document.to_json(),
            "indexes": [{"name": n, "fields": list(f)} for n, f in table.indexes],
            "searchIndexes": [
                {"name": n, "searchField": s, "filterFields": list(f)}
                for n, s, f in table.search_indexes
            ],
        }
    return {
        "tables": tables,
        "schemaValidation": schema.schema_validation if schema is not None else True,
        "strictTables": schema.strict_tables if schema is not None else False,
    }
