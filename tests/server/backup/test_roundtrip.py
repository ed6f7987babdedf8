"""Export and import across backends, with the CLI run as a user runs it:
SQLite -> PostgreSQL -> SQLite keeps every document, id, creation time and
stored file, and servers on the imported stores answer queries (index,
search, stored files, scheduled jobs) as the original did."""

from __future__ import annotations

import zipfile
from pathlib import Path

import httpx

from protocol.values import Int64, dumps, encode
from server.config import load_config
from server.storage.files import storage_folder
from server.store.catalog import SCHEDULED_FUNCTIONS, STORAGE, dump_document
from tests.helpers.postgres import fresh_database
from tests.helpers.server import LivesyncServer, StartServer
from tests.helpers.timeouts import REPLY
from tests.server.backup.helpers import FUNCTIONS, call, livesync, read_deployment


def _storage(server: LivesyncServer) -> Path:
    config = load_config(server.config_path).with_overrides(database=server.database_url)
    return storage_folder(config)


def _answers(url: str, file_id: str, job_id: str) -> list[str]:
    """What clients see (encoded, so a NaN equals itself): queries by index,
    by search and whole, a scheduled job, and a stored file's contents."""
    file_url = call(url, "query", "notes:file_url", {"id": file_id})
    values = [
        call(url, "query", "notes:by_author", {"author": "ada"}),
        call(url, "query", "notes:by_author", {"author": "files"}),
        call(url, "query", "notes:search", {"text": "apples"}),
        call(url, "query", "notes:everything"),
        call(url, "query", "notes:job", {"id": job_id}),
        httpx.get(file_url, timeout=REPLY).content,
    ]
    return [dumps(encode(value)) for value in values]


def _seed(url: str) -> tuple[str, str]:
    for n in range(60):
        author = ("ada", "bob", "cy")[n % 3]
        words = ("apples and pears", "pears only", "no fruit")[n % 3]
        call(
            url,
            "mutation",
            "notes:add",
            {"author": author, "body": f"{words} {n}", "count": Int64(n)},
        )
    file_id = call(url, "action", "notes:attach", {"text": "the stored file's bytes"})
    job_id = call(url, "mutation", "notes:later")
    return file_id, job_id


def _canonical(tables: dict[str, list[dict[str, object]]]) -> dict[str, list[str]]:
    # Encoded, so a NaN equals itself and an Int64 differs from a float.
    return {table: [dump_document(doc) for doc in docs] for table, docs in tables.items()}


async def test_sqlite_to_postgres_and_back_keeps_everything(
    start_server: StartServer, tmp_path: Path
) -> None:
    source = start_server(FUNCTIONS)
    file_id, job_id = _seed(source.url)
    expected = _answers(source.url, file_id, job_id)

    # Exported while the SQLite server keeps running.
    first_zip = tmp_path / "first.zip"
    done = livesync("export", str(first_zip), "--config", str(source.config_path))
    assert done.returncode == 0, done.stderr
    assert "exported 63 documents" in done.stdout  # 61 notes, 1 file, 1 job
    with zipfile.ZipFile(first_zip) as zf:
        names = set(zf.namelist())
    assert {"notes/documents.jsonl", "_storage/documents.jsonl", f"_storage/{file_id}"} <= names
    source.stop()
    original, original_files = await read_deployment(source.database_url, _storage(source))
    assert set(original) == {"notes", STORAGE, SCHEDULED_FUNCTIONS}

    async with fresh_database() as pg_url:
        pg = start_server(FUNCTIONS, database_url=pg_url)
        pg.stop()  # its config and folders exist; the import needs no server
        done = livesync("import", str(first_zip), "--config", str(pg.config_path))
        assert done.returncode == 0, done.stderr
        assert "imported 63 documents of 6 tables and 1 files" in done.stdout
        in_pg, pg_files = await read_deployment(pg_url, _storage(pg))
        assert _canonical(in_pg) == _canonical(original)
        assert pg_files == original_files

        pg.start()
        assert _answers(pg.url, file_id, job_id) == expected
        # New documents come after the imported ones.
        call(pg.url, "mutation", "notes:add", {"author": "ada", "body": "new", "count": Int64(1)})
        newest = call(pg.url, "query", "notes:by_author", {"author": "ada"})[-1]
        assert newest["body"] == "new"
        assert newest["_creationTime"] > max(d["_creationTime"] for d in original["notes"])

        second_zip = tmp_path / "second.zip"
        done = livesync("export", str(second_zip), "--config", str(pg.config_path))
        assert done.returncode == 0, done.stderr
        after_pg, _ = await read_deployment(pg_url, _storage(pg))
        pg.stop()

    back = start_server(FUNCTIONS)
    back.stop()
    back.db_path.unlink()  # an empty deployment: no file at all
    done = livesync("import", str(second_zip), "--config", str(back.config_path))
    assert done.returncode == 0, done.stderr
    in_sqlite, sqlite_files = await read_deployment(back.database_url, _storage(back))
    assert _canonical(in_sqlite) == _canonical(after_pg)
    assert sqlite_files == original_files
    back.start()
    answers = _answers(back.url, file_id, job_id)
    # Ada's new note is the one difference.
    assert answers[1:3] == expected[1:3] and answers[4:] == expected[4:]
    assert answers[0] != expected[0] and answers[0].startswith(expected[0][:-1])
