"""A SQLite file written before plain ints became float64 opens and reads right.

`fixtures/numbers-format-1.db` was written by livesync at e14788f (the last
commit with the old mapping) through `SqliteStore`: table `counters`, index
`counters.by_n`; document "a" inserted as
`{"name": "a", "n": 5, "big": 2**60, "ratio": 0.5, "tags": [1, 2.5], "keep": 3}`
and then patched to `n = 6`; document "b" is `{"name": "b", "n": 7, "keep": 4}`.
Every int in it is stored as `{"$integer": ...}`.
"""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

import pytest

from protocol.values import Int64
from server.errors import StoreError
from server.functions.legacy_numbers import convert_legacy_numbers
from server.functions.schema import define_schema, define_table
from server.functions.validators import v
from server.store.keys import encode_tuple, prefix_end
from server.store.sqlite import SqliteStore

OLD_FILE = Path(__file__).parent / "fixtures" / "numbers-format-1.db"
SCHEMA = define_schema(
    {
        "counters": define_table(
            {
                "name": v.string(),
                "n": v.number(),
                "big": v.optional(v.any()),
                "ratio": v.optional(v.number()),
                "tags": v.optional(v.array(v.any())),
                "keep": v.int64(),
            }
        ).index("by_n", ["n"]),
    }
)


@pytest.fixture
def old_file(tmp_path: Path) -> Path:
    path = tmp_path / "old.db"
    shutil.copy(OLD_FILE, path)
    return path


async def by_n(store: SqliteStore, n: object, ts: int | None = None) -> list[str]:
    start = encode_tuple([n])
    snap = store.snapshot(ts)
    return [doc["name"] async for _, doc in snap.scan("counters.by_n", start, prefix_end(start))]


async def test_an_old_file_reads_ints_as_float64_except_where_the_schema_says_int64(
    old_file: Path,
) -> None:
    store = SqliteStore(old_file)
    await store.open(SCHEMA.index_defs(), convert_legacy_numbers(SCHEMA))
    try:
        docs = {
            doc["name"]: doc async for _, doc in store.snapshot().scan("counters.by_n", b"", None)
        }
        a, b = docs["a"], docs["b"]
        assert (type(a["n"]), a["n"], type(b["n"]), b["n"]) == (int, 6, int, 7)
        assert a["tags"] == [1, 2.5] and type(a["tags"][0]) is int
        assert a["ratio"] == 0.5
        # A float64 cannot hold 2**60 exactly, so it stays an int64.
        assert type(a["big"]) is Int64 and a["big"] == 2**60
        # The schema says int64 here.
        assert type(a["keep"]) is Int64 and type(b["keep"]) is Int64
        # Index entries moved to the float64 keys, in the present and in history.
        assert await by_n(store, 6) == ["a"] and await by_n(store, 6.0) == ["a"]
        assert await by_n(store, Int64(6)) == []
        assert await by_n(store, 7) == ["b"]
        first_insert = _version_ts(old_file)[0]
        assert await by_n(store, 5, first_insert) == ["a"]
        assert await by_n(store, 6, first_insert) == []
    finally:
        await store.close()


async def test_the_upgrade_runs_once_and_new_writes_use_the_new_format(old_file: Path) -> None:
    store = SqliteStore(old_file)
    await store.open(SCHEMA.index_defs(), convert_legacy_numbers(SCHEMA))
    await store.write(lambda tx: tx.insert("counters", {"name": "c", "n": 8, "keep": Int64(1)}))
    await store.close()
    # A later start with no converter has nothing left to convert.
    reopened = SqliteStore(old_file)
    await reopened.open(SCHEMA.index_defs())
    try:
        assert await by_n(reopened, 8) == ["c"]
        assert await by_n(reopened, 6) == ["a"]
    finally:
        await reopened.close()


async def test_without_a_schema_every_int64_a_float64_holds_becomes_a_float64(
    old_file: Path,
) -> None:
    store = SqliteStore(old_file)
    await store.open(SCHEMA.index_defs(), convert_legacy_numbers(None))
    try:
        doc = await store.snapshot().get(await _id_of(store, "b"))
        assert doc is not None
        assert (type(doc["n"]), type(doc["keep"])) == (int, int)
    finally:
        await store.close()


async def test_an_old_file_opened_without_a_converter_is_refused_untouched(old_file: Path) -> None:
    before = old_file.read_bytes()
    store = SqliteStore(old_file)
    with pytest.raises(StoreError, match="older livesync"):
        await store.open(SCHEMA.index_defs())
    assert _documents(old_file) == _documents_of_bytes(before, old_file.parent)


def test_the_rule_walks_objects_arrays_and_records_along_the_schema() -> None:
    schema = define_schema(
        {
            "t": define_table(
                {
                    "counts": v.record(v.string(), v.int64()),
                    "nested": v.object({"a": v.int64(), "b": v.number()}),
                    "list": v.array(v.union(v.int64(), v.null())),
                    "free": v.any(),
                }
            )
        }
    )
    convert = convert_legacy_numbers(schema)
    doc = {
        "counts": {"x": Int64(1)},
        "nested": {"a": Int64(2), "b": Int64(3)},
        "list": [Int64(4), None],
        "free": {"deep": [Int64(5)]},
    }
    out = convert("t", doc)
    assert out == doc
    kinds = (
        type(out["counts"]["x"]),
        type(out["nested"]["a"]),
        type(out["nested"]["b"]),
        type(out["list"][0]),
        type(out["free"]["deep"][0]),
    )
    assert kinds == (Int64, Int64, int, Int64, int)
    # A table the schema does not name converts everything.
    assert type(convert("other", {"n": Int64(1)})["n"]) is int


async def _id_of(store: SqliteStore, name: str) -> str:
    async for _, doc in store.snapshot().scan("counters.by_creation_time", b"", None):
        if doc["name"] == name:
            return str(doc["_id"])
    raise AssertionError(name)


def _version_ts(path: Path) -> list[int]:
    with sqlite3.connect(path) as conn:
        return [ts for (ts,) in conn.execute("SELECT ts FROM documents ORDER BY ts")]


def _documents(path: Path) -> list[tuple[object, ...]]:
    conn = sqlite3.connect(path)
    try:
        return conn.execute("SELECT * FROM documents ORDER BY id, ts").fetchall()
    finally:
        conn.close()


def _documents_of_bytes(data: bytes, folder: Path) -> list[tuple[object, ...]]:
    copy = folder / "before.db"
    copy.write_bytes(data)
    return _documents(copy)
