"""`livesync export PATH` and `livesync import PATH`: the config's database
and file store, opened as each needs them.

Export opens the database read-only: on SQLite beside a running server
(WAL readers see whole commits only), on PostgreSQL beside any number.
Import writes through the store's commits. On PostgreSQL servers may keep
running: they see each batch as it commits. On SQLite a running server
holds the file's lock, so an import is refused until it stops (two writers
would each miss the other's commits).
"""

from __future__ import annotations

from pathlib import Path

from server.backup.archive import Manifest, SnapshotReader
from server.backup.export import export_snapshot, schema_description
from server.backup.importer import Importer, ImportSummary, Mode
from server.backup.progress import Progress
from server.config import Config
from server.errors import DatabaseInUse, SnapshotError
from server.functions.legacy_numbers import convert_legacy_numbers
from server.functions.registry import FunctionRegistry
from server.storage.files import open_file_store
from server.store import open_store

__all__ = ["run_export", "run_import"]


async def run_export(
    config: Config, registry: FunctionRegistry, path: Path, progress: Progress
) -> Manifest:
    """Export the deployment of `config` (whose functions are `registry`) to
    the new ZIP `path`."""
    store = open_store(config.database.url, read_only=True)
    await store.open([])
    files = open_file_store(config)
    try:
        await files.open()
        schema = schema_description(registry.schema)
        return await export_snapshot(store, files, path, progress, schema)
    finally:
        await files.close()
        await store.close()


async def run_import(
    config: Config,
    registry: FunctionRegistry,
    path: Path,
    table: str | None,
    mode: Mode,
    progress: Progress,
) -> ImportSummary:
    """Import the ZIP `path` into the deployment of `config` (whose
    functions are `registry`)."""
    reader = SnapshotReader(path)  # a foreign ZIP is refused before the database is touched
    try:
        store = open_store(config.database.url)
        try:
            await store.open(registry.index_defs(), convert_legacy_numbers(registry.schema))
        except DatabaseInUse:
            raise SnapshotError(
                "a livesync server has the SQLite database open, and SQLite takes one "
                "writer: stop the server, import, then start it again"
            ) from None
        files = open_file_store(config)
        try:
            await files.open()
            importer = Importer(
                reader,
                store,
                files,
                schema=registry.schema,
                limits=config.limits,
                max_file_bytes=config.storage.max_file_bytes,
                progress=progress,
            )
            return await importer.run(table, mode)
        finally:
            await files.close()
            await store.close()
    finally:
        reader.close()
