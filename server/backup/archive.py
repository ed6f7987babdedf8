"""The snapshot ZIP: what `livesync export` writes and `livesync import` reads.

Laid out like a Convex snapshot export, so its users find their way:

    README.md                  what the file is
    _tables/documents.jsonl    one line per table: {"name": table}
    <table>/documents.jsonl    one document per line, `_id` and `_creationTime`
                               included, values in the Convex JSON encoding
                               of the wire protocol ($integer, $bytes, $float)
    _storage/documents.jsonl   the stored files' metadata (a table like the others)
    _storage/<storage id>      each stored file's bytes
    schema.json                the exporting app's tables, validators and indexes
    livesync.json              the manifest: format, snapshot ts, documents per
                               table, file count; written last, so a ZIP cut
                               short has none

A ZIP without a manifest (a Convex export, any other ZIP) is refused: its ids
are not livesync ids. The manifest's counts let the importer notice a member
that lost lines.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from server.errors import SchemaError, SnapshotError
from server.store.catalog import STORAGE, STORAGE_UPLOADS, check_table_name
from server.store.ids import id_matches_table

__all__ = ["FORMAT", "Manifest", "SnapshotReader", "SnapshotWriter", "TableWriter"]

FORMAT = 1
"""The layout version in the manifest; a reader refuses any other."""

_MANIFEST = "livesync.json"
_TABLES = "_tables/documents.jsonl"
_SCHEMA = "schema.json"
_README = "README.md"
_LINES_PER_WRITE = 512  # lines joined into one compressor call
_CHUNK = 1024 * 1024  # bytes per read of a stored file

_README_TEXT = """\
# livesync snapshot export

Written by `livesync export`; load it with `livesync import PATH`.
Each `<table>/documents.jsonl` holds one document per line in the Convex JSON
encoding; `_storage/` holds the stored files by storage id; `livesync.json`
says when the snapshot was taken and how many documents each table holds.
"""


def _documents(table: str) -> str:
    return f"{table}/documents.jsonl"


def _stored_file(storage_id: str) -> str:
    return f"{STORAGE}/{storage_id}"


@dataclass(frozen=True, slots=True)
class Manifest:
    """What `livesync.json` says."""

    snapshot_ts: int
    tables: dict[str, int]  # table -> documents
    files: int

    @property
    def documents(self) -> int:
        return sum(self.tables.values())


class TableWriter:
    """Lines of one table's `documents.jsonl`, compressed as they come."""

    def __init__(self, out: IO[bytes]) -> None:
        self._out = out
        self._pending: list[str] = []
        self.count = 0

    def write(self, line: str) -> None:
        self._pending.append(line)
        self.count += 1
        if len(self._pending) >= _LINES_PER_WRITE:
            self.flush()

    def flush(self) -> None:
        if self._pending:
            self._out.write("".join(f"{line}\n" for line in self._pending).encode("utf-8"))
            self._pending.clear()


class SnapshotWriter:
    """Writes a snapshot ZIP to `<path>.part`, renamed to `path` by `finish`,
    so a failed export leaves no ZIP that looks whole."""

    def __init__(self, path: Path) -> None:
        if path.exists():
            raise SnapshotError(f"{path} already exists: name a new file")
        self._path = path
        self._part = path.with_name(path.name + ".part")
        try:
            self._zip = zipfile.ZipFile(self._part, "w", zipfile.ZIP_DEFLATED, allowZip64=True)
        except OSError as exc:
            raise SnapshotError(f"cannot write {path}: {exc.strerror or exc}") from None
        self._tables: dict[str, int] = {}
        self._files = 0

    @contextlib.contextmanager
    def table(self, name: str) -> Iterator[TableWriter]:
        with self._zip.open(_documents(name), "w", force_zip64=True) as out:
            writer = TableWriter(out)
            yield writer
            writer.flush()
        self._tables[name] = writer.count

    @contextlib.contextmanager
    def file(self, storage_id: str) -> Iterator[IO[bytes]]:
        """Where the bytes of the stored file `storage_id` go."""
        # Stored, not deflated: most files (images, archives) are compressed already.
        info = zipfile.ZipInfo(_stored_file(storage_id))
        info.compress_type = zipfile.ZIP_STORED
        with self._zip.open(info, "w", force_zip64=True) as out:
            yield out
        self._files += 1

    def finish(self, snapshot_ts: int, schema: dict[str, Any]) -> Manifest:
        manifest = Manifest(snapshot_ts, dict(self._tables), self._files)
        self._zip.writestr(_README, _README_TEXT)
        self._zip.writestr(_TABLES, "".join(json.dumps({"name": t}) + "\n" for t in self._tables))
        self._zip.writestr(_SCHEMA, json.dumps(schema, indent=2, sort_keys=True))
        body = {
            "format": FORMAT,
            "snapshotTs": str(snapshot_ts),
            "tables": manifest.tables,
            "files": manifest.files,
        }
        self._zip.writestr(_MANIFEST, json.dumps(body, indent=2))
        self._zip.close()
        os.replace(self._part, self._path)
        return manifest

    def abort(self) -> None:
        with contextlib.suppress(Exception):
            self._zip.close()
        self._part.unlink(missing_ok=True)


class SnapshotReader:
    """Reads a snapshot ZIP, turning every way it can be broken into a
    one-line `SnapshotError`."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            self._zip = zipfile.ZipFile(path)
        except FileNotFoundError:
            raise SnapshotError(f"{path} does not exist") from None
        except (zipfile.BadZipFile, OSError) as exc:
            raise SnapshotError(f"{path} is not a ZIP file ({exc})") from None
        self._names = set(self._zip.namelist())
        try:
            self.manifest = self._read_manifest()
        except BaseException:
            self._zip.close()
            raise

    def close(self) -> None:
        self._zip.close()

    def _read_manifest(self) -> Manifest:
        if _MANIFEST not in self._names:
            raise SnapshotError(
                f"{self.path} is not a livesync export (it has no {_MANIFEST}); "
                "import reads only what `livesync export` wrote"
            )
        with self._reading(_MANIFEST):
            raw = json.loads(self._zip.read(_MANIFEST))
        if not isinstance(raw, dict) or raw.get("format") != FORMAT:
            found = raw.get("format") if isinstance(raw, dict) else None
            raise SnapshotError(f"{self.path}: {_MANIFEST} is of format {found!r}, not {FORMAT}")
        try:
            ts, tables, files = int(raw["snapshotTs"]), raw["tables"], raw["files"]
            counts = {str(name): int(count) for name, count in tables.items()}
            files = int(files)
        except (KeyError, TypeError, ValueError, AttributeError):
            raise SnapshotError(f"{self.path}: {_MANIFEST} is malformed") from None
        for table in counts:
            self._check_table(table)
        return Manifest(ts, counts, files)

    def _check_table(self, table: str) -> None:
        try:
            check_table_name(table, system=True)
        except SchemaError:
            raise SnapshotError(f"{self.path}: {table!r} is not a table name") from None
        if table == STORAGE_UPLOADS:
            raise SnapshotError(f"{self.path}: {table} is not something an export holds")
        if _documents(table) not in self._names:
            raise SnapshotError(f"{self.path} is incomplete: {_documents(table)} is missing")

    @contextlib.contextmanager
    def _reading(self, member: str) -> Iterator[None]:
        try:
            yield
        except (zipfile.BadZipFile, zlib.error, EOFError, UnicodeDecodeError, ValueError) as exc:
            raise SnapshotError(f"{self.path}: {member} is corrupt ({exc})") from None
        except OSError as exc:
            raise SnapshotError(f"cannot read {self.path}: {exc.strerror or exc}") from None

    def lines(self, table: str) -> Iterator[tuple[int, str]]:
        """`(line number, text)` of each document line of `table`; raises
        `SnapshotError` if the member is corrupt or holds another number of
        lines than the manifest says."""
        member = _documents(table)
        count = 0
        with self._reading(member), self._zip.open(member) as raw:
            for number, line in enumerate(io.TextIOWrapper(raw, encoding="utf-8"), 1):
                if line.strip():
                    count += 1
                    yield number, line
        expected = self.manifest.tables[table]
        if count != expected:
            raise SnapshotError(
                f"{self.path}: {member} holds {count} documents, its manifest says {expected}"
            )

    def file_size(self, storage_id: str) -> int | None:
        """The size of the stored file `storage_id` in the ZIP, or None if absent."""
        if not id_matches_table(storage_id, STORAGE):
            return None
        try:
            return self._zip.getinfo(_stored_file(storage_id)).file_size
        except KeyError:
            return None

    def file_chunks(self, storage_id: str) -> Iterator[bytes]:
        """The bytes of the stored file `storage_id`, a chunk at a time (its
        CRC is checked at the end)."""
        member = _stored_file(storage_id)
        with self._reading(member), self._zip.open(member) as raw:
            while chunk := raw.read(_CHUNK):
                yield chunk
