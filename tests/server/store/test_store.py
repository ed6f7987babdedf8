"""Every store backend on a real database: documents, scans, snapshots, commits.

Each test runs on SQLite and on PostgreSQL (the `store` and `store_backend`
fixtures); tests/server/store/test_sqlite.py holds what only SQLite has."""

from __future__ import annotations

import asyncio
import random
from typing import Any

import pytest

from protocol.values import Int64
from server.errors import DocumentNotFound, SchemaError
from server.store.base import IndexDef, IndexKeyChange, Order, Snapshot, Store, Transaction
from server.store.catalog import TABLES
from server.store.keys import MISSING_FIELD, encode_tuple, index_key, prefix_end
from tests.helpers.stores import StoreBackend
from tests.helpers.timeouts import EVENT

from .conftest import BY_CHANNEL


async def insert(store: Store, table: str, value: dict[str, Any]) -> str:
    doc_id, _ = await store.write(lambda tx: tx.insert(table, value))
    return doc_id


async def scan(
    snap: Snapshot,
    index: str,
    start: bytes = b"",
    end: bytes | None = None,
    order: Order = "asc",
) -> list[tuple[bytes, dict[str, Any]]]:
    return [row async for row in snap.scan(index, start, end, order)]


async def channel(snap: Snapshot, name: str, order: Order = "asc") -> list[dict[str, Any]]:
    start = encode_tuple([name])
    return [
        doc for _, doc in await scan(snap, "messages.by_channel", start, prefix_end(start), order)
    ]


# -- documents -------------------------------------------------------------------


async def test_insert_then_get_returns_document(store: Store) -> None:
    value = {
        "channel": "a",
        "n": Int64(2**62),
        "count": 5,
        "raw": b"\x00\xff",
        "f": 1.5,
        "nested": {"x": [None, True]},
    }
    doc_id, commit = await store.write(lambda tx: tx.insert("messages", value))
    doc = await store.snapshot().get(doc_id)
    assert doc == {"_id": doc_id, "_creationTime": commit.ts / 1_000_000, **value}
    assert type(doc["n"]) is Int64 and type(doc["f"]) is float and type(doc["count"]) is int


async def test_get_of_unknown_id_returns_none(store: Store) -> None:
    assert await store.snapshot().get("nope") is None


async def test_patch_merges_fields_and_missing_field_removes_one(store: Store) -> None:
    doc_id = await insert(store, "messages", {"channel": "a", "body": "hi", "extra": 1})
    await store.write(lambda tx: tx.patch(doc_id, {"body": "bye", "extra": MISSING_FIELD}))
    doc = await store.snapshot().get(doc_id)
    assert doc is not None
    assert {k: v for k, v in doc.items() if not k.startswith("_")} == {
        "channel": "a",
        "body": "bye",
    }


async def test_replace_keeps_system_fields_and_drops_other_fields(store: Store) -> None:
    doc_id = await insert(store, "messages", {"channel": "a", "body": "hi"})
    before = await store.snapshot().get(doc_id)
    assert before is not None
    await store.write(lambda tx: tx.replace(doc_id, {"_id": doc_id, "channel": "b"}))
    after = await store.snapshot().get(doc_id)
    assert after == {"_id": doc_id, "_creationTime": before["_creationTime"], "channel": "b"}


async def test_delete_hides_document_from_get_and_scans(store: Store) -> None:
    doc_id = await insert(store, "messages", {"channel": "a"})
    await store.write(lambda tx: tx.delete(doc_id))
    snap = store.snapshot()
    assert await snap.get(doc_id) is None
    assert await channel(snap, "a") == []
    assert await scan(snap, "messages.by_creation_time") == []


@pytest.mark.parametrize("operation", ["patch", "replace", "delete"])
async def test_update_of_missing_document_raises_document_not_found(
    store: Store, operation: str
) -> None:
    async def update(tx: Transaction) -> None:
        if operation == "delete":
            await tx.delete("missing")
        else:
            await getattr(tx, operation)("missing", {"a": 1})

    with pytest.raises(DocumentNotFound, match="Update on nonexistent document ID missing"):
        await store.write(update)


@pytest.mark.parametrize(
    ("table", "value"),
    [
        ("messages", {"_id": "x"}),
        ("messages", {"_secret": 1}),
        ("_system", {"a": 1}),
        ("1abc", {"a": 1}),
        ("messages", {"a": object()}),
        ("messages", {"a": 2**64}),
    ],
)
async def test_insert_refuses_bad_tables_and_values(
    store: Store, table: str, value: dict[str, Any]
) -> None:
    with pytest.raises(SchemaError):
        await store.write(lambda tx: tx.insert(table, value))
    assert store.latest_ts == 0


async def test_patch_cannot_change_system_fields(store: Store) -> None:
    doc_id = await insert(store, "messages", {"channel": "a"})
    with pytest.raises(SchemaError, match="_creationTime"):
        await store.write(lambda tx: tx.patch(doc_id, {"_creationTime": 1.0}))


# -- scans ----------------------------------------------------------------------


async def test_scan_returns_index_range_in_key_order_both_ways(store: Store) -> None:
    async def fill(tx: Transaction) -> None:
        for i, name in enumerate(["b", "a", "c", "a", "b"]):
            await tx.insert("messages", {"channel": name, "i": i})

    await store.write(fill)
    snap = store.snapshot()
    asc = await scan(snap, "messages.by_channel")
    assert [doc["channel"] for _, doc in asc] == ["a", "a", "b", "b", "c"]
    assert [key for key, _ in asc] == sorted(key for key, _ in asc)
    desc = await scan(snap, "messages.by_channel", order="desc")
    assert desc == asc[::-1]
    in_b = [doc["i"] for _, doc in asc if doc["channel"] == "b"]
    assert [doc["i"] for doc in await channel(snap, "b")] == in_b
    assert [doc["i"] for doc in await channel(snap, "b", "desc")] == in_b[::-1]


async def test_scan_honours_start_inclusive_and_end_exclusive(store: Store) -> None:
    async def fill(tx: Transaction) -> None:
        for name in "abcde":
            await tx.insert("messages", {"channel": name})

    await store.write(fill)
    keys = [key for key, _ in await scan(store.snapshot(), "messages.by_channel")]
    for order in ("asc", "desc"):
        rows = await scan(store.snapshot(), "messages.by_channel", keys[1], keys[3], order)
        got = sorted(doc["channel"] for _, doc in rows)
        assert got == ["b", "c"]


async def test_scan_pages_through_many_rows_with_history_and_tombstones(
    store: Store,
) -> None:
    # 300 keys, each rewritten and a third deleted, so pages hold several
    # versions per key and many tombstones.
    ids: list[str] = []

    async def fill(tx: Transaction) -> None:
        for i in range(300):
            ids.append(await tx.insert("messages", {"channel": "x", "i": i}))

    await store.write(fill)

    async def churn(tx: Transaction) -> None:
        for i, doc_id in enumerate(ids):
            if i % 3 == 0:
                await tx.delete(doc_id)
            else:
                await tx.patch(doc_id, {"i": i * 10})

    await store.write(churn)
    for order in ("asc", "desc"):
        docs = await channel(store.snapshot(), "x", order)
        assert sorted(d["i"] for d in docs) == [i * 10 for i in range(300) if i % 3]
        assert len({d["_id"] for d in docs}) == len(docs)


async def test_scan_can_stop_early(store: Store) -> None:
    async def fill(tx: Transaction) -> None:
        for i in range(100):
            await tx.insert("messages", {"channel": "x", "i": i})

    await store.write(fill)
    everything = await scan(store.snapshot(), "messages.by_channel")
    taken = []
    async for row in store.snapshot().scan("messages.by_channel", b"", None):
        taken.append(row)
        if len(taken) == 3:
            break
    assert taken == everything[:3]


async def test_scan_of_unknown_index_raises_schema_error(store: Store) -> None:
    with pytest.raises(SchemaError, match="messages.by_nothing"):
        await scan(store.snapshot(), "messages.by_nothing")


async def test_system_indexes_exist_for_undeclared_tables(store: Store) -> None:
    doc_id = await insert(store, "notes", {"text": "hi"})
    snap = store.snapshot()
    assert [d["_id"] for _, d in await scan(snap, "notes.by_creation_time")] == [doc_id]
    assert [key for key, _ in await scan(snap, "notes.by_id")] == [index_key([], doc_id)]


# -- snapshots and timestamps ----------------------------------------------------


async def test_snapshot_at_older_ts_sees_the_old_state(store: Store) -> None:
    doc_id = await insert(store, "messages", {"channel": "a", "body": "v1"})
    old_ts = store.latest_ts
    await store.write(lambda tx: tx.patch(doc_id, {"channel": "b", "body": "v2"}))
    gone = await insert(store, "messages", {"channel": "a", "body": "later"})

    old, new = store.snapshot(old_ts), store.snapshot()
    assert [d["body"] for d in await channel(old, "a")] == ["v1"]
    assert await channel(old, "b") == []
    assert await old.get(gone) is None
    assert [d["body"] for d in await channel(new, "b")] == ["v2"]
    assert [d["body"] for d in await channel(new, "a")] == ["later"]


async def test_snapshot_after_the_latest_commit_is_refused(store: Store) -> None:
    with pytest.raises(ValueError):
        store.snapshot(store.latest_ts + 1)


async def test_commit_ts_is_strictly_increasing(store: Store) -> None:
    stamps = []
    for _ in range(20):
        _, commit = await store.write(lambda tx: tx.insert("messages", {"channel": "a"}))
        stamps.append(commit.ts)
        assert store.latest_ts == commit.ts
    assert stamps == sorted(set(stamps))


async def test_empty_write_still_gets_a_new_ts(store: Store) -> None:
    async def nothing(tx: Transaction) -> int:
        return 7

    first = store.latest_ts
    result, commit = await store.write(nothing)
    assert result == 7 and commit.writes == () and commit.ts > first == 0
    assert store.latest_ts == commit.ts


async def test_commit_ts_keeps_growing_after_reopen_with_a_clock_behind(
    store_backend: StoreBackend,
) -> None:
    store = store_backend.make(clock=lambda: 1_000)
    await store.open([])
    _, first = await store.write(lambda tx: tx.insert("t", {}))
    _, second = await store.write(lambda tx: tx.insert("t", {}))
    await store.close()
    # The first commit's second insert (t's entry in the table catalog) was
    # created 1 us after its ts, and later commits start above it.
    assert (first.ts, second.ts) == (1_000, 2_001)

    reopened = store_backend.make(clock=lambda: 5)
    await reopened.open([])
    try:
        assert reopened.latest_ts == 2_001
        doc_id, third = await reopened.write(lambda tx: tx.insert("t", {}))
        assert third.ts > 2_001
        # Creation order stays commit order across the restart.
        snap = reopened.snapshot()
        times = [d["_creationTime"] for _, d in await scan(snap, "t.by_creation_time")]
        assert times == sorted(times) and len(set(times)) == 3
        assert (await scan(snap, "t.by_creation_time"))[-1][1]["_id"] == doc_id
    finally:
        await reopened.close()


async def test_documents_survive_close_and_reopen(store_backend: StoreBackend) -> None:
    store = store_backend.make()
    await store.open([BY_CHANNEL])
    doc_id = await insert(store, "messages", {"channel": "a"})
    await store.close()
    store = store_backend.make()
    await store.open([BY_CHANNEL])
    try:
        assert [d["_id"] for d in await channel(store.snapshot(), "a")] == [doc_id]
    finally:
        await store.close()


# -- transactions ------------------------------------------------------------------


async def test_reads_in_a_transaction_see_its_own_writes(store: Store) -> None:
    async def body(tx: Transaction) -> tuple[Any, list[str]]:
        doc_id = await tx.insert("messages", {"channel": "a", "n": 1})
        await tx.patch(doc_id, {"n": 2})
        seen = [d["_id"] for d in await channel(tx, "a")]
        return await tx.get(doc_id), seen

    (doc, seen), _ = await store.write(body)
    assert doc["n"] == 2
    assert seen == [doc["_id"]]


async def test_scans_in_a_transaction_merge_its_buffered_writes_into_every_page(
    store: Store,
) -> None:
    # The transaction's writes stay in memory until COMMIT; each index page
    # read from the database is merged with them. A model of the documents
    # checks every scan (ranges, both orders, pages of 16 and more, keys that
    # move, vanish, or are inserted and deleted again) and the committed end.
    rng = random.Random(7)
    channels = ["a", "b", "c"]
    model: dict[str, dict[str, Any]] = {}
    for n in range(60):
        value = {"channel": rng.choice(channels), "n": n}
        model[await insert(store, "messages", value)] = value

    def expected(start: bytes, end: bytes | None, order: Order) -> list[tuple[str, int]]:
        keyed = sorted((index_key([v["channel"]], id), id, v["n"]) for id, v in model.items())
        rows = [(id, n) for key, id, n in keyed if key >= start and (end is None or key < end)]
        return rows[::-1] if order == "desc" else rows

    async def body(tx: Transaction) -> int:
        checks = 0
        for step in range(150):
            move = rng.random()
            if move < 0.3 or not model:
                value = {"channel": rng.choice(channels), "n": 1000 + step}
                model[await tx.insert("messages", value)] = value
            else:
                id = rng.choice(sorted(model))
                if move < 0.55:
                    await tx.delete(id)
                    del model[id]
                elif move < 0.8:
                    model[id] = {**model[id], "channel": rng.choice(channels)}
                    await tx.patch(id, {"channel": model[id]["channel"]})
                else:
                    model[id] = {**model[id], "n": 2000 + step}
                    await tx.patch(id, {"n": model[id]["n"]})
            name = rng.choice([*channels, None])
            start = b"" if name is None else encode_tuple([name])
            end = None if name is None else prefix_end(start)
            order: Order = rng.choice(["asc", "desc"])
            seen = [
                (d["_id"], d["n"]) for _, d in await scan(tx, BY_CHANNEL.name, start, end, order)
            ]
            assert seen == expected(start, end, order), f"step {step}"
            checks += 1
        return checks

    checks, _ = await store.write(body)
    assert checks == 150
    stored = [(d["_id"], d["n"]) for _, d in await scan(store.snapshot(), BY_CHANNEL.name)]
    assert stored == expected(b"", None, "asc")


async def test_exception_in_write_rolls_back_and_propagates_unchanged(store: Store) -> None:
    kept = await insert(store, "messages", {"channel": "a"})
    latest = store.latest_ts
    boom = RuntimeError("boom")

    async def body(tx: Transaction) -> None:
        await tx.insert("messages", {"channel": "a"})
        await tx.delete(kept)
        await channel(tx, "a")  # a read on the writer connection before the failure
        await tx.record_mutation_result("s", 1, "null")
        raise boom

    with pytest.raises(RuntimeError) as caught:
        await store.write(body)
    assert caught.value is boom
    assert store.latest_ts == latest
    assert [d["_id"] for d in await channel(store.snapshot(), "a")] == [kept]
    assert await store.get_mutation_result("s", 1) is None
    # The writer is usable again afterwards.
    assert await insert(store, "messages", {"channel": "b"})


async def test_write_cancelled_while_its_rows_go_to_the_database_rolls_back(
    store: Store,
) -> None:
    # A timed-out mutation is cancelled wherever it awaits, including a read
    # on the writer connection in the middle of its transaction.
    latest = store.latest_ts

    async def body(tx: Transaction) -> None:
        await tx.insert("messages", {"channel": "a"})
        # Cancelled at its next suspension, the read of the index page (a
        # cancel from outside could come too late, once the read is done).
        this = asyncio.current_task()
        assert this is not None
        this.cancel()
        await channel(tx, "a")

    task = asyncio.ensure_future(store.write(body))
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(task, EVENT)
    assert store.latest_ts == latest
    assert await channel(store.snapshot(), "a") == []
    # The writer is not left inside the cancelled transaction.
    assert await asyncio.wait_for(insert(store, "messages", {"channel": "b"}), EVENT)


async def test_commit_lists_writes_with_old_and_new_documents(store: Store) -> None:
    doc_id = await insert(store, "messages", {"channel": "a"})

    async def body(tx: Transaction) -> str:
        await tx.patch(doc_id, {"channel": "b"})
        temporary = await tx.insert("messages", {"channel": "t"})
        await tx.delete(temporary)
        return await tx.insert("notes", {"text": "x"})

    note_id, commit = await store.write(body)
    by_id = {w.id: w for w in commit.writes if w.table != TABLES}  # and notes' catalog entry
    assert set(by_id) == {doc_id, note_id}
    assert by_id[doc_id].old is not None and by_id[doc_id].old["channel"] == "a"
    assert by_id[doc_id].new is not None and by_id[doc_id].new["channel"] == "b"
    assert by_id[note_id].table == "notes" and by_id[note_id].old is None


async def test_commit_keys_hold_old_and_new_keys_of_every_index(store: Store) -> None:
    doc_id = await insert(store, "messages", {"channel": "a"})
    doc = await store.snapshot().get(doc_id)
    assert doc is not None
    _, commit = await store.write(lambda tx: tx.patch(doc_id, {"channel": "b"}))
    assert set(commit.keys) == {
        IndexKeyChange("messages.by_channel", index_key(["a"], doc_id)),
        IndexKeyChange("messages.by_channel", index_key(["b"], doc_id)),
        IndexKeyChange("messages.by_id", index_key([], doc_id)),
        IndexKeyChange("messages.by_creation_time", index_key([doc["_creationTime"]], doc_id)),
    }


async def test_mutation_result_is_stored_with_the_commit_ts(store: Store) -> None:
    async def body(tx: Transaction) -> None:
        await tx.record_mutation_result("session", 3, '{"ok":true}')

    _, commit = await store.write(body)
    assert await store.get_mutation_result("session", 3) == (commit.ts, '{"ok":true}', None)
    assert await store.get_mutation_result("session", 4) is None
    assert await store.get_mutation_result("other", 3) is None


async def test_snapshot_reads_during_a_write_do_not_see_it(store: Store) -> None:
    existing = await insert(store, "messages", {"channel": "a"})
    written = asyncio.Event()
    release = asyncio.Event()

    async def slow(tx: Transaction) -> str:
        doc_id = await tx.insert("messages", {"channel": "a"})
        await tx.patch(existing, {"body": "changed"})
        await channel(tx, "a")  # the rows are now in the database, uncommitted
        written.set()
        await asyncio.wait_for(release.wait(), EVENT)
        return doc_id

    writing = asyncio.create_task(store.write(slow))
    await asyncio.wait_for(written.wait(), EVENT)
    snap = store.snapshot()
    assert [d["_id"] for d in await channel(snap, "a")] == [existing]
    existing_doc = await snap.get(existing)
    assert existing_doc is not None and "body" not in existing_doc
    release.set()
    new_id, commit = await asyncio.wait_for(writing, EVENT)
    assert store.latest_ts == commit.ts
    assert new_id in {d["_id"] for d in await channel(store.snapshot(), "a")}


async def test_writes_are_serialized(store: Store) -> None:
    doc_id = await insert(store, "messages", {"channel": "a", "n": 0})

    async def increment(tx: Transaction) -> None:
        doc = await tx.get(doc_id)
        assert doc is not None
        await asyncio.sleep(0)  # yield to the other writers mid-transaction
        await tx.patch(doc_id, {"n": doc["n"] + 1})

    await asyncio.wait_for(asyncio.gather(*(store.write(increment) for _ in range(20))), EVENT)
    doc = await store.snapshot().get(doc_id)
    assert doc is not None and doc["n"] == 20


# -- indexes and history -------------------------------------------------------


async def test_new_index_is_backfilled_on_reopen_and_removed_one_dropped(
    store_backend: StoreBackend,
) -> None:
    store = store_backend.make()
    await store.open([BY_CHANNEL])
    ids = [await insert(store, "messages", {"channel": "a", "n": n}) for n in (3, 1, 2)]
    await store.write(lambda tx: tx.patch(ids[0], {"n": 0}))
    await store.close()

    by_n = IndexDef("messages", "messages.by_n", ("n",))
    store = store_backend.make()
    await store.open([by_n])
    try:
        rows = await scan(store.snapshot(), "messages.by_n")
        assert [d["n"] for _, d in rows] == [0, 1, 2]
        with pytest.raises(SchemaError):
            await scan(store.snapshot(), "messages.by_channel")
        # New writes maintain the backfilled index.
        await store.write(lambda tx: tx.patch(ids[1], {"n": 9}))
        rows = await scan(store.snapshot(), "messages.by_n")
        assert [d["n"] for _, d in rows] == [0, 2, 9]
    finally:
        await store.close()
    [(count,)] = await store_backend.fetch(
        "SELECT COUNT(*) FROM index_entries WHERE idx = 'messages.by_channel'"
    )
    assert count == 0


async def test_vacuum_removes_superseded_history_and_keeps_current_state(
    store_backend: StoreBackend,
) -> None:
    store = store_backend.make()
    await store.open([BY_CHANNEL])
    try:
        kept = await insert(store, "messages", {"channel": "a", "n": 0})
        for n in range(1, 5):
            await store.write(lambda tx, n=n: tx.patch(kept, {"n": n, "channel": f"c{n}"}))
        dropped = await insert(store, "messages", {"channel": "z"})
        await store.write(lambda tx: tx.delete(dropped))
        before = await scan(store.snapshot(), "messages.by_channel")

        deleted = await store.vacuum_before(store.latest_ts)

        assert await scan(store.snapshot(), "messages.by_channel") == before
        doc = await store.snapshot().get(kept)
        assert doc is not None and doc["n"] == 4
        assert await store.snapshot().get(dropped) is None
    finally:
        await store.close()
    versions = await store_backend.fetch(
        "SELECT id, COUNT(*) FROM documents WHERE tbl = 'messages' GROUP BY id"
    )
    [(entries,)] = await store_backend.fetch(
        "SELECT COUNT(*) FROM index_entries WHERE idx LIKE 'messages.%'"
    )
    assert versions == [(kept, 1)]
    assert entries == 3  # by_id, by_creation_time, by_channel of the one live document
    assert deleted > 0


async def test_vacuum_keeps_what_later_snapshots_need(store: Store) -> None:
    doc_id = await insert(store, "messages", {"channel": "a"})
    middle = store.latest_ts
    await store.write(lambda tx: tx.patch(doc_id, {"channel": "b"}))
    await store.vacuum_before(middle)
    assert [d["_id"] for d in await channel(store.snapshot(middle), "a")] == [doc_id]
    assert [d["_id"] for d in await channel(store.snapshot(), "b")] == [doc_id]


async def test_many_concurrent_snapshot_reads_share_the_reader_pool(store: Store) -> None:
    async def fill(tx: Transaction) -> None:
        for i in range(50):
            await tx.insert("messages", {"channel": f"c{i % 5}", "i": i})

    await store.write(fill)
    snap = store.snapshot()
    results = await asyncio.wait_for(
        asyncio.gather(*(channel(snap, f"c{i % 5}") for i in range(40))), EVENT
    )
    assert [len(docs) for docs in results] == [10] * 40
    assert all(doc["channel"] == f"c{i % 5}" for i, docs in enumerate(results) for doc in docs)


async def test_inserts_of_one_transaction_get_increasing_creation_times(
    store_backend: StoreBackend,
) -> None:
    store = store_backend.make(clock=lambda: 10_000_000)

    async def three(tx: Transaction) -> list[str]:
        return [await tx.insert("t", {"n": float(n)}) for n in range(3)]

    await store.open([])
    try:
        ids, commit = await store.write(three)
        _, later = await store.write(lambda tx: tx.insert("t", {"n": 3.0}))
        docs = [await store.snapshot().get(i) for i in [*ids, later.writes[0].id]]
        times = [d["_creationTime"] for d in docs if d is not None]
        assert times == sorted(times) and len(set(times)) == 4
        assert times[0] == commit.ts / 1_000_000
    finally:
        await store.close()
