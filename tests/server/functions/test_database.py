"""ctx.db against a real SQLite store: results, read sets, writes, limits."""

from __future__ import annotations

from pathlib import Path

import pytest

from protocol.values import Int64
from server.errors import DocumentNotFound, FunctionError, LimitExceeded, SchemaError
from server.functions.database import DatabaseReader, DatabaseWriter, ReadBudget, TableCatalog
from server.functions.readset import ReadSet
from server.functions.schema import define_schema, define_table
from server.functions.validators import v
from server.store.keys import index_key
from server.store.sqlite import SqliteStore

SCHEMA = define_schema(
    {
        "messages": define_table({"channel": v.string(), "body": v.string()}).index(
            "by_channel", ["channel"]
        )
    }
)
BY_CHANNEL = "messages.by_channel"
BY_TIME = "messages.by_creation_time"
BY_ID = "messages.by_id"


@pytest.fixture
async def store(tmp_path: Path):
    store = SqliteStore(tmp_path / "db.sqlite")
    await store.open(SCHEMA.index_defs())
    yield store
    await store.close()


async def insert_all(store: SqliteStore, rows: list[dict]) -> list[dict]:
    """Insert each row in its own commit (distinct creation times); return the docs."""
    ids = []
    for row in rows:

        async def write(tx, row=row):
            return await DatabaseWriter(tx, ReadSet(), schema=SCHEMA).insert("messages", row)

        doc_id, _ = await store.write(write)
        ids.append(doc_id)
    snapshot = store.snapshot()
    return [await snapshot.get(doc_id) for doc_id in ids]


def reader(store: SqliteStore, **kwargs) -> tuple[DatabaseReader, ReadSet]:
    reads = ReadSet()
    catalog = TableCatalog(("messages",))
    return DatabaseReader(store.snapshot(), reads, schema=SCHEMA, catalog=catalog, **kwargs), reads


def channel_key(doc: dict) -> bytes:
    return index_key((doc["channel"], doc["_creationTime"]), doc["_id"])


def time_key(doc: dict) -> bytes:
    return index_key((doc["_creationTime"],), doc["_id"])


async def test_take_stops_early_and_reads_only_up_to_the_last_consumed_key(store):
    docs = await insert_all(store, [{"channel": "a", "body": str(n)} for n in range(4)])
    db, reads = reader(store)
    got = (
        await db.query("messages").with_index("by_channel", lambda q: q.eq("channel", "a")).take(2)
    )
    assert [d["body"] for d in got] == ["0", "1"]
    assert reads.contains(BY_CHANNEL, channel_key(docs[1]))
    assert not reads.contains(BY_CHANNEL, channel_key(docs[2]))


async def test_exhausted_scan_reads_the_whole_range_including_absent_keys(store):
    docs = await insert_all(store, [{"channel": "a", "body": "x"}, {"channel": "b", "body": "y"}])
    db, reads = reader(store)
    got = (
        await db.query("messages")
        .with_index("by_channel", lambda q: q.eq("channel", "a"))
        .collect()
    )
    assert [d["_id"] for d in got] == [docs[0]["_id"]]
    # A future message in channel "a" lands inside the read range ...
    assert reads.contains(BY_CHANNEL, index_key(("a", 9e15), "z" * 32))
    # ... one in channel "b" does not.
    assert not reads.contains(BY_CHANNEL, channel_key(docs[1]))


async def test_desc_take_reads_from_the_last_consumed_key_to_the_end(store):
    docs = await insert_all(store, [{"channel": "a", "body": str(n)} for n in range(3)])
    db, reads = reader(store)
    got = await db.query("messages").order("desc").take(1)
    assert got[0]["_id"] == docs[2]["_id"]
    assert reads.contains(BY_TIME, time_key(docs[2]))
    assert reads.contains(BY_TIME, index_key((9e15,), "z" * 32))  # a newer insert
    assert not reads.contains(BY_TIME, time_key(docs[1]))


async def test_get_records_the_id_key_on_hit_and_miss(store):
    (doc,) = await insert_all(store, [{"channel": "a", "body": "x"}])
    db, reads = reader(store)
    assert (await db.get(doc["_id"]))["body"] == "x"
    assert reads.contains(BY_ID, index_key((), doc["_id"]))
    deleted_id = doc["_id"]

    async def delete(tx):
        await DatabaseWriter(tx, ReadSet(), schema=SCHEMA).delete(deleted_id)

    await store.write(delete)
    db, reads = reader(store)
    assert await db.get(deleted_id) is None
    assert reads.ranges and reads.contains(BY_ID, index_key((), deleted_id))


async def test_filter_does_not_narrow_the_read_set(store):
    docs = await insert_all(
        store, [{"channel": "a", "body": "skip"}, {"channel": "a", "body": "keep"}]
    )
    db, reads = reader(store)
    got = await db.query("messages").filter(lambda q: q.eq(q.field("body"), "keep")).collect()
    assert [d["body"] for d in got] == ["keep"]
    assert reads.contains(BY_TIME, time_key(docs[0]))


async def test_first_unique_and_unknown_index(store):
    await insert_all(store, [{"channel": "a", "body": "x"}, {"channel": "a", "body": "y"}])
    db, _ = reader(store)
    assert (await db.query("messages").first())["body"] == "x"
    assert await db.query("messages").filter(lambda q: q.eq(q.field("body"), "z")).unique() is None
    with pytest.raises(FunctionError, match="more than one"):
        await db.query("messages").unique()
    with pytest.raises(FunctionError, match="Index messages.by_nothing not found"):
        db.query("messages").with_index("by_nothing")


async def test_documents_are_fresh_copies(store):
    (doc,) = await insert_all(store, [{"channel": "a", "body": "x"}])
    db, _ = reader(store)
    first = await db.get(doc["_id"])
    first["body"] = "changed"
    assert (await db.get(doc["_id"]))["body"] == "x"


async def test_scanning_past_the_document_limit_raises(store):
    await insert_all(store, [{"channel": "a", "body": str(n)} for n in range(3)])
    db, _ = reader(store, budget=ReadBudget(limit=2))
    with pytest.raises(LimitExceeded, match="limit: 2"):
        await db.query("messages").collect()


async def test_writes_that_break_the_schema_fail(store):
    (doc,) = await insert_all(store, [{"channel": "a", "body": "x"}])

    async def bad_insert(tx):
        await DatabaseWriter(tx, ReadSet(), schema=SCHEMA).insert("messages", {"channel": 1.0})

    with pytest.raises(SchemaError, match="messages"):
        await store.write(bad_insert)

    async def bad_patch(tx):
        await DatabaseWriter(tx, ReadSet(), schema=SCHEMA).patch(doc["_id"], {"body": 5.0})

    with pytest.raises(SchemaError, match=r"Path: \.body"):
        await store.write(bad_patch)


async def test_patch_replace_and_delete_apply(store):
    (doc,) = await insert_all(store, [{"channel": "a", "body": "x"}])

    async def edit(tx):
        db = DatabaseWriter(tx, ReadSet(), schema=SCHEMA)
        await db.patch(doc["_id"], {"body": "patched"})
        patched = await db.get(doc["_id"])
        await db.replace(doc["_id"], {"channel": "b", "body": "replaced"})
        return patched, await db.get(doc["_id"])

    (patched, replaced), _ = await store.write(edit)
    assert patched["body"] == "patched" and patched["channel"] == "a"
    assert replaced == {**doc, "channel": "b", "body": "replaced"}


async def test_patch_of_missing_document_is_document_not_found(store):
    (doc,) = await insert_all(store, [{"channel": "a", "body": "x"}])

    async def twice(tx):
        db = DatabaseWriter(tx, ReadSet(), schema=SCHEMA)
        await db.delete(doc["_id"])
        await db.patch(doc["_id"], {"body": "y"})

    with pytest.raises(DocumentNotFound, match="nonexistent document"):
        await store.write(twice)


async def test_int64_fields_given_plain_ints_are_stored_as_int64(tmp_path: Path):
    schema = define_schema(
        {"counters": define_table({"n": v.int64(), "f": v.number(), "tags": v.array(v.int64())})}
    )
    store = SqliteStore(tmp_path / "counters.sqlite")
    await store.open(schema.index_defs())
    try:

        async def write(tx):
            db = DatabaseWriter(tx, ReadSet(), schema=schema)
            doc_id = await db.insert("counters", {"n": 1, "f": 2, "tags": [3]})
            await db.patch(doc_id, {"n": 4})
            inserted = await db.insert("counters", {"n": 0, "f": 0.5, "tags": []})
            await db.replace(inserted, {"n": 5, "f": 1, "tags": [6, Int64(7)]})
            return doc_id, inserted

        (patched_id, replaced_id), _ = await store.write(write)
        patched = await store.snapshot().get(patched_id)
        replaced = await store.snapshot().get(replaced_id)
    finally:
        await store.close()
    assert patched is not None and replaced is not None
    assert (patched["n"], type(patched["n"]), type(patched["f"])) == (4, Int64, int)
    assert type(patched["tags"][0]) is Int64
    assert [type(x) for x in replaced["tags"]] == [Int64, Int64] and type(replaced["n"]) is Int64
