"""`livesync import` modes and refusals: `--table` with `--replace` and
`--append`, and every refusal (tables in use, ids already there, a corrupt
or foreign ZIP, a document the schema or the limits refuse, an id of
another table) leaving the deployment exactly as it was. The catalog of
table names is derived: an export leaves it out and an import rebuilds it."""

from __future__ import annotations

import json
import zipfile
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from server.backup import Progress, run_export, run_import
from server.config import Config, Limits, load_config
from server.errors import SnapshotError
from server.functions.registry import FunctionRegistry
from server.store import open_store
from server.store.base import Transaction
from server.store.catalog import TABLES, dump_document
from tests.helpers.server import StartServer
from tests.helpers.stores import catalogued
from tests.server.backup.helpers import FUNCTIONS, livesync, read_deployment

QUIET = Progress(False)
REGISTRY = FunctionRegistry.load(FUNCTIONS)


def _config(tmp_path: Path, name: str) -> Config:
    config = load_config(None).with_overrides(
        functions=str(FUNCTIONS), database=f"sqlite:///{tmp_path / name / 'db.sqlite'}"
    )
    return replace(config, storage=replace(config.storage, dir=tmp_path / name / "files"))


async def _write(config: Config, body: Callable[[Transaction], Any]) -> None:
    store = open_store(config.database.url)
    await store.open([])
    try:
        await store.write(body)
    finally:
        await store.close()


def _notes(*bodies: str) -> Callable[[Transaction], Any]:
    async def insert(tx: Transaction) -> None:
        for body in bodies:
            await tx.insert("notes", {"author": "ada", "body": body})

    return insert


async def _contents(config: Config) -> dict[str, list[str]]:
    """Every document, encoded; {} when not even the database file exists."""
    if not Path(config.database.url.removeprefix("sqlite:///")).exists():
        return {}
    tables, _ = await read_deployment(config.database.url, config.storage.dir or Path())
    return {table: [dump_document(d) for d in docs] for table, docs in tables.items()}


@pytest.fixture
async def snapshot(tmp_path: Path) -> Path:
    """A ZIP of two notes and a checking account."""
    source = _config(tmp_path, "source")

    async def seed(tx: Transaction) -> None:
        await _notes("exported one", "exported two")(tx)
        await tx.insert("checking", {"balance": 5.0})

    await _write(source, seed)
    path = tmp_path / "snapshot.zip"
    await run_export(source, REGISTRY, path, QUIET)
    return path


async def _target(tmp_path: Path) -> Config:
    """A deployment holding a note and an account of its own."""
    target = _config(tmp_path, "target")

    async def seed(tx: Transaction) -> None:
        await _notes("already here")(tx)
        await tx.insert("checking", {"balance": 9.0})

    await _write(target, seed)
    return target


def _bodies(contents: dict[str, list[str]], table: str = "notes") -> list[str]:
    return [json.loads(doc)["body"] for doc in contents.get(table, [])]


async def test_import_refuses_tables_that_hold_documents(snapshot: Path, tmp_path: Path) -> None:
    target = await _target(tmp_path)
    before = await _contents(target)
    with pytest.raises(SnapshotError, match="table checking already holds documents.*--replace"):
        await run_import(target, REGISTRY, snapshot, None, "empty", QUIET)
    assert await _contents(target) == before


async def test_replace_of_one_table_leaves_the_others(snapshot: Path, tmp_path: Path) -> None:
    target = await _target(tmp_path)
    before = await _contents(target)
    summary = await run_import(target, REGISTRY, snapshot, "notes", "replace", QUIET)
    assert (summary.tables, summary.documents) == (1, 2)
    after = await _contents(target)
    assert _bodies(after) == ["exported one", "exported two"]
    assert after["checking"] == before["checking"]
    # The ids and creation times are the exported ones.
    source = await _contents(_config(tmp_path, "source"))
    assert after["notes"] == source["notes"]


async def _catalog(config: Config) -> list[str]:
    store = open_store(config.database.url, read_only=True)
    await store.open([])
    try:
        return await catalogued(store.snapshot())
    finally:
        await store.close()


async def test_an_export_leaves_the_table_catalog_out_and_an_import_rebuilds_it(
    snapshot: Path, tmp_path: Path
) -> None:
    assert sorted(await _catalog(_config(tmp_path, "source"))) == ["checking", "notes"]
    with zipfile.ZipFile(snapshot) as zf:
        assert TABLES not in json.loads(zf.read("livesync.json"))["tables"]
        # The ZIP's own list of its tables (as a Convex export has), not the
        # catalog's documents.
        listed = [json.loads(line) for line in zf.read(f"{TABLES}/documents.jsonl").splitlines()]
    assert all(list(line) == ["name"] for line in listed)
    names = {line["name"] for line in listed}
    assert {"checking", "notes"} <= names and TABLES not in names
    target = _config(tmp_path, "empty")
    await run_import(target, REGISTRY, snapshot, None, "empty", QUIET)
    assert sorted(await _catalog(target)) == ["checking", "notes"]
    # A table emptied and loaded again stays listed once.
    await run_import(target, REGISTRY, snapshot, "notes", "replace", QUIET)
    assert sorted(await _catalog(target)) == ["checking", "notes"]


async def test_append_adds_and_refuses_an_id_already_there(snapshot: Path, tmp_path: Path) -> None:
    target = await _target(tmp_path)
    await run_import(target, REGISTRY, snapshot, "notes", "append", QUIET)
    after = await _contents(target)
    assert sorted(_bodies(after)) == ["already here", "exported one", "exported two"]
    with pytest.raises(SnapshotError, match="is already in the deployment"):
        await run_import(target, REGISTRY, snapshot, "notes", "append", QUIET)
    assert await _contents(target) == after


def _rewritten(
    source: Path, dest: Path, member: str, edit: Callable[[list[str]], list[str]]
) -> Path:
    """`source` with `member`'s lines passed through `edit`."""
    with zipfile.ZipFile(source) as zin, zipfile.ZipFile(dest, "w") as zout:
        for info in zin.infolist():
            data = zin.read(info)
            if info.filename == member:
                data = "".join(f"{line}\n" for line in edit(data.decode().splitlines())).encode()
            zout.writestr(info.filename, data)
    return dest


def _with_author(author: object) -> Callable[[list[str]], list[str]]:
    def edit(lines: list[str]) -> list[str]:
        doc = json.loads(lines[1])
        doc["author"] = author
        return [lines[0], json.dumps(doc)]

    return edit


def _broken_zips(snapshot: Path, tmp: Path) -> dict[str, tuple[Path, str]]:
    truncated = tmp / "truncated.zip"
    truncated.write_bytes(snapshot.read_bytes()[: snapshot.stat().st_size // 2])
    foreign = tmp / "foreign.zip"
    with zipfile.ZipFile(foreign, "w") as zf:
        zf.writestr("_tables/documents.jsonl", '{"name": "notes"}\n')
        zf.writestr("notes/documents.jsonl", '{"_id": "k57abc", "body": "x"}\n')

    def with_catalog(lines: list[str]) -> list[str]:
        manifest = json.loads("".join(lines))
        manifest["tables"][TABLES] = 1
        return [json.dumps(manifest)]

    text = tmp / "text.zip"
    text.write_text("not a zip")
    notes = "notes/documents.jsonl"
    return {
        "truncated": (truncated, "is not a ZIP file"),
        "foreign": (foreign, "is not a livesync export"),
        "text": (text, "is not a ZIP file"),
        "catalog": (
            _rewritten(snapshot, tmp / "catalog.zip", "livesync.json", with_catalog),
            f"{TABLES} is not something an export holds",
        ),
        "schema": (
            _rewritten(snapshot, tmp / "schema.zip", notes, _with_author(5)),
            "notes/documents.jsonl line 2: .*does not match the schema",
        ),
        "wrong table": (
            _rewritten(
                snapshot,
                tmp / "table.zip",
                notes,
                lambda lines: [
                    lines[0],
                    zipfile.ZipFile(snapshot).read("checking/documents.jsonl").decode().strip(),
                ],
            ),
            "line 2: _id '[a-z2-7]+' is not an id of table notes",
        ),
        "twice": (
            _rewritten(snapshot, tmp / "twice.zip", notes, lambda lines: [lines[0], lines[0]]),
            "line 2: _id [a-z2-7]+ appears twice",
        ),
        "lost lines": (
            _rewritten(snapshot, tmp / "short.zip", notes, lambda lines: lines[:1]),
            "holds 1 documents, its manifest says 2",
        ),
        "not json": (
            _rewritten(snapshot, tmp / "json.zip", notes, lambda lines: [lines[0], "{oops"]),
            "line 2: not a Convex JSON document",
        ),
    }


@pytest.mark.parametrize(
    "case",
    [
        "truncated",
        "foreign",
        "text",
        "catalog",
        "schema",
        "wrong table",
        "twice",
        "lost lines",
        "not json",
    ],
)
async def test_a_bad_zip_is_refused_with_nothing_written(
    case: str, snapshot: Path, tmp_path: Path
) -> None:
    path, message = _broken_zips(snapshot, tmp_path)[case]
    target = _config(tmp_path, "empty")
    with pytest.raises(SnapshotError, match=message):
        await run_import(target, REGISTRY, path, None, "empty", QUIET)
    assert await _contents(target) == {}


async def test_documents_past_the_limits_are_refused(snapshot: Path, tmp_path: Path) -> None:
    target = _config(tmp_path, "small")
    target = replace(target, limits=Limits(document_bytes=30))
    with pytest.raises(SnapshotError, match=r"line 1: Document is too large \(\d+ bytes"):
        await run_import(target, REGISTRY, snapshot, None, "empty", QUIET)
    assert await _contents(target) == {}


async def test_unknown_table_and_existing_export_path_are_refused(
    snapshot: Path, tmp_path: Path
) -> None:
    with pytest.raises(SnapshotError, match="has no table 'nope'"):
        await run_import(_config(tmp_path, "t"), REGISTRY, snapshot, "nope", "empty", QUIET)
    with pytest.raises(SnapshotError, match="already exists"):
        await run_export(_config(tmp_path, "source"), REGISTRY, snapshot, QUIET)


def test_cli_refusals_are_one_line_and_exit_2(
    snapshot: Path, tmp_path: Path, start_server: StartServer
) -> None:
    server = start_server(FUNCTIONS)
    config = str(server.config_path)
    # SQLite takes one writer: not beside a running server.
    done = livesync("import", str(snapshot), "--config", config, "--replace", "--quiet")
    assert done.returncode == 2
    assert done.stderr.splitlines()[-1] == (
        "livesync: error: a livesync server has the SQLite database open, and SQLite takes "
        "one writer: stop the server, import, then start it again"
    )
    server.stop()
    foreign = tmp_path / "foreign.zip"
    with zipfile.ZipFile(foreign, "w") as zf:
        zf.writestr("hello.txt", "hi")
    done = livesync("import", str(foreign), "--config", config)
    assert done.returncode == 2
    assert done.stderr.splitlines()[-1].startswith(
        f"livesync: error: {foreign} is not a livesync export"
    )
    done = livesync("import", str(snapshot), "--config", config, "--replace", "--append")
    assert done.returncode == 2 and "not allowed with argument" in done.stderr
