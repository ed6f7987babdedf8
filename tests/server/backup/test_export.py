"""The export's own guarantees: no ZIP when the database moved further past
its snapshot than servers keep history (a vacuum may have removed versions
it read), and no half-written ZIP left behind."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from server.backup import Progress
from server.backup.export import export_snapshot, schema_description
from server.errors import SnapshotError
from server.storage.folder import FolderFiles
from server.store.sqlite import SqliteStore
from server.upkeep import HISTORY_RETENTION_NS


async def test_an_export_the_vacuum_may_have_overtaken_is_refused(tmp_path: Path) -> None:
    later = SqliteStore(
        tmp_path / "db.sqlite", clock=lambda: time.time_ns() + HISTORY_RETENTION_NS * 2
    )
    await later.open([])
    reader = SqliteStore(tmp_path / "db.sqlite", read_only=True)
    await reader.open([])  # its snapshot: the empty database
    try:
        await later.write(lambda tx: tx.insert("notes", {"body": "much later"}))
        path = tmp_path / "late.zip"
        files = FolderFiles(tmp_path / "files")
        with pytest.raises(SnapshotError, match=r"moved \d+ s past the export's snapshot"):
            await export_snapshot(reader, files, path, Progress(False), schema_description(None))
        assert not path.exists() and not (tmp_path / "late.zip.part").exists()
        # Within the window the same export is fine.
        fresh = SqliteStore(tmp_path / "db.sqlite", read_only=True)
        await fresh.open([])
        try:
            manifest = await export_snapshot(
                fresh, files, path, Progress(False), schema_description(None)
            )
        finally:
            await fresh.close()
        assert manifest.tables == {"notes": 1}
    finally:
        await reader.close()
        await later.close()
