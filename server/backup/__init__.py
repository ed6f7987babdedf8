"""Snapshot export and import (`livesync export PATH`, `livesync import PATH`)."""

from server.backup.archive import Manifest, SnapshotReader, SnapshotWriter
from server.backup.commands import run_export, run_import
from server.backup.importer import Importer, ImportSummary, Mode
from server.backup.progress import Progress

__all__ = [
    "ImportSummary",
    "Importer",
    "Manifest",
    "Mode",
    "Progress",
    "SnapshotReader",
    "SnapshotWriter",
    "run_export",
    "run_import",
]
