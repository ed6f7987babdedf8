"""with_search_index against a real SQLite store: relevance order, filters,
post-filters, take/first/collect, the read set, the limits and misuse."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from server.errors import ConfigError, FunctionError, LimitExceeded
from server.functions.database import DatabaseReader, DatabaseWriter, TableCatalog
from server.functions.readset import ReadSet
from server.functions.schema import define_schema, define_table
from server.functions.validators import v
from server.store.base import IndexKeyChange
from server.store.keys import index_key
from server.store.sqlite import SqliteStore

SCHEMA = define_schema(
    {
        "messages": define_table(
            {"channel": v.string(), "body": v.string(), "author": v.optional(v.string())}
        )
        .index("by_channel", ["channel"])
        .search_index("search_body", search_field="body", filter_fields=["channel", "author"])
    }
)
SEARCH = "messages.search_body"


@pytest.fixture
async def store(tmp_path: Path) -> Any:
    store = SqliteStore(tmp_path / "db.sqlite")
    await store.open(SCHEMA.index_defs())
    yield store
    await store.close()


async def insert(store: SqliteStore, *rows: dict[str, Any]) -> list[str]:
    ids = []
    for row in rows:

        async def write(tx: Any, row: dict[str, Any] = row) -> str:
            return await DatabaseWriter(tx, ReadSet(), schema=SCHEMA).insert("messages", row)

        doc_id, _ = await store.write(write)
        ids.append(doc_id)
    return ids


def reader(store: SqliteStore) -> tuple[DatabaseReader, ReadSet]:
    reads = ReadSet()
    db = DatabaseReader(store.snapshot(), reads, schema=SCHEMA, catalog=TableCatalog())
    return db, reads


def bodies(docs: list[dict[str, Any]]) -> list[str]:
    return [doc["body"] for doc in docs]


async def test_results_come_by_relevance_with_the_last_word_as_a_prefix(store: SqliteStore) -> None:
    await insert(
        store,
        {"channel": "a", "body": "the cat sat on the mat with another cat and a dog"},
        {"channel": "a", "body": "cat cat"},
        {"channel": "a", "body": "a dog"},
        {"channel": "a", "body": "catalog of things"},
        {"channel": "a", "body": "nothing here"},
    )
    db, _ = reader(store)
    found = await (
        db.query("messages").with_search_index("search_body", lambda q: q.search("body", "cat"))
    ).collect()
    # "cat" is the prefix term: "catalog" matches too, at half weight; more
    # and denser hits rank first.
    assert bodies(found) == [
        "cat cat",
        "the cat sat on the mat with another cat and a dog",
        "catalog of things",
    ]
    db, _ = reader(store)
    first = await (
        db.query("messages").with_search_index("search_body", lambda q: q.search("body", "DOG!"))
    ).first()
    assert first is not None and first["body"] == "a dog"


async def test_eq_filters_and_post_filters(store: SqliteStore) -> None:
    await insert(
        store,
        {"channel": "a", "body": "hello one", "author": "x"},
        {"channel": "b", "body": "hello two", "author": "x"},
        {"channel": "a", "body": "hello three", "author": "y"},
        {"channel": "a", "body": "hello four"},
    )
    db, _ = reader(store)
    query = db.query("messages").with_search_index(
        "search_body", lambda q: q.search("body", "hello").eq("channel", "a")
    )
    assert sorted(bodies(await query.collect())) == ["hello four", "hello one", "hello three"]
    db, _ = reader(store)
    query = db.query("messages").with_search_index(
        "search_body", lambda q: q.search("body", "hello").eq("author", "x")
    )
    assert sorted(bodies(await query.collect())) == ["hello one", "hello two"]
    db, _ = reader(store)
    query = (
        db.query("messages")
        .with_search_index("search_body", lambda q: q.search("body", "hello"))
        .filter(lambda q: q.eq(q.field("author"), "y"))
    )
    assert bodies(await query.take(5)) == ["hello three"]


async def test_the_read_set_is_the_filtered_key_range_and_the_results_read(
    store: SqliteStore,
) -> None:
    ids = await insert(
        store, {"channel": "a", "body": "hello"}, {"channel": "b", "body": "hello there"}
    )
    db, reads = reader(store)
    found = await (
        db.query("messages").with_search_index(
            "search_body", lambda q: q.search("body", "hello").eq("channel", "a")
        )
    ).collect()
    assert [doc["_id"] for doc in found] == [ids[0]]
    # A matching message arriving in channel a re-runs the search; one in b does not.
    in_a = index_key(("a", "y"), "someid")
    in_b = index_key(("b", "y"), "someid")
    assert reads.overlaps([IndexKeyChange(SEARCH, in_a)])
    assert not reads.overlaps([IndexKeyChange(SEARCH, in_b)])
    # The result's other fields changing re-runs it too.
    assert reads.contains("messages.by_id", index_key((), ids[0]))
    assert not reads.contains("messages.by_id", index_key((), ids[1]))


async def test_no_words_find_nothing_and_read_nothing(store: SqliteStore) -> None:
    await insert(store, {"channel": "a", "body": "hello"})
    db, reads = reader(store)
    query = db.query("messages").with_search_index("search_body", lambda q: q.search("body", "?!"))
    assert await query.collect() == []
    assert not reads


async def test_limits_are_refused_clearly(store: SqliteStore) -> None:
    db, _ = reader(store)
    words = " ".join(f"w{n}" for n in range(17))
    with pytest.raises(LimitExceeded, match=r"Too many terms in a search query: 17 \(limit: 16"):
        db.query("messages").with_search_index("search_body", lambda q: q.search("body", words))
    await insert(store, *({"channel": "a", "body": f"many {n}"} for n in range(1030)))
    db, _ = reader(store)
    query = db.query("messages").with_search_index(
        "search_body", lambda q: q.search("body", "many")
    )
    assert len(await query.take(1024)) == 1024
    db, _ = reader(store)
    query = db.query("messages").with_search_index(
        "search_body", lambda q: q.search("body", "many")
    )
    with pytest.raises(LimitExceeded, match="more than 1024 results"):
        await query.collect()


async def test_misuse_is_refused(store: SqliteStore) -> None:
    db, _ = reader(store)
    with pytest.raises(FunctionError, match="Search index messages.nope not found"):
        db.query("messages").with_search_index("nope", lambda q: q.search("body", "x"))
    with pytest.raises(FunctionError, match="searches 'body', not 'channel'"):
        db.query("messages").with_search_index("search_body", lambda q: q.search("channel", "x"))
    with pytest.raises(FunctionError, match="cannot filter on 'body'"):
        db.query("messages").with_search_index(
            "search_body", lambda q: q.search("body", "x").eq("body", "y")
        )
    with pytest.raises(FunctionError, match="order\\(\\) cannot be used"):
        db.query("messages").with_search_index(
            "search_body", lambda q: q.search("body", "x")
        ).order("desc")
    with pytest.raises(ConfigError, match="defined twice"):
        define_table().index("a", ["x"]).search_index("a", search_field="x")
    with pytest.raises(ConfigError, match="at most 16"):
        define_table().search_index(
            "s", search_field="x", filter_fields=[f"f{n}" for n in range(17)]
        )


async def test_a_mutation_searches_its_own_writes(store: SqliteStore) -> None:
    await insert(store, {"channel": "a", "body": "old hello"})

    async def write(tx: Any) -> list[str]:
        db = DatabaseWriter(tx, ReadSet(), schema=SCHEMA)
        await db.insert("messages", {"channel": "a", "body": "new hello"})
        found = await (
            db.query("messages").with_search_index(
                "search_body", lambda q: q.search("body", "hello")
            )
        ).collect()
        return sorted(bodies(found))

    seen, _ = await store.write(write)
    assert seen == ["new hello", "old hello"]


def searching(db: DatabaseReader, text: str) -> Any:
    return db.query("messages").with_search_index("search_body", lambda q: q.search("body", text))


async def test_search_pages_chain_through_every_result_once(store: SqliteStore) -> None:
    await insert(
        store, *({"channel": "a", "body": "deploy " * (1 + n % 4) + f"n{n}"} for n in range(11))
    )
    await insert(store, {"channel": "a", "body": "unrelated"})
    db, _ = reader(store)
    everything = bodies(await searching(db, "deploy").collect())
    pages, cursor = [], None
    while True:
        db, _ = reader(store)
        page = await searching(db, "deploy").paginate({"numItems": 4, "cursor": cursor})
        pages.append(bodies(page["page"]))
        cursor = page["continueCursor"]
        if page["isDone"]:
            break
    assert [len(p) for p in pages] == [4, 4, 3]
    assert [body for p in pages for body in p] == everything  # relevance order, none twice
    db, _ = reader(store)
    empty = await searching(db, "deploy").paginate({"numItems": 4, "cursor": cursor})
    assert empty == {"page": [], "isDone": True, "continueCursor": cursor}


async def test_a_pinned_search_page_grows_in_place_and_cursors_stay_in_their_search(
    store: SqliteStore,
) -> None:
    await insert(store, *({"channel": "a", "body": f"rocket launch {n}"} for n in range(6)))
    db, _ = reader(store)
    first = await searching(db, "rocket").paginate({"numItems": 3, "cursor": None})
    assert len(first["page"]) == 3 and not first["isDone"]
    # A new, denser match ranks first: re-run with the pinned end (as the
    # clients do), the first page holds it and still ends where it ended.
    await insert(store, {"channel": "a", "body": "rocket rocket rocket"})
    db, _ = reader(store)
    again = await searching(db, "rocket").paginate(
        {"numItems": 3, "cursor": None, "endCursor": first["continueCursor"]}
    )
    assert bodies(again["page"]) == ["rocket rocket rocket", *bodies(first["page"])]
    assert again["continueCursor"] == first["continueCursor"]
    db, _ = reader(store)
    rest = await searching(db, "rocket").paginate(
        {"numItems": 10, "cursor": first["continueCursor"]}
    )
    assert rest["isDone"] and len(rest["page"]) == 3
    assert not set(bodies(rest["page"])) & set(bodies(again["page"]))
    db, _ = reader(store)
    index_page = await db.query("messages").paginate({"numItems": 2, "cursor": None})
    for foreign in (index_page["continueCursor"], "knot-a-cursor"):
        db, _ = reader(store)
        with pytest.raises(FunctionError, match="InvalidCursor"):
            await searching(db, "rocket").paginate({"numItems": 2, "cursor": foreign})
    db, _ = reader(store)
    nothing = await searching(db, "rocket").paginate({"numItems": 0, "cursor": None})
    assert nothing["page"] == [] and not nothing["isDone"]


async def test_search_pages_cover_the_first_1024_results(store: SqliteStore) -> None:
    await insert(store, *({"channel": "a", "body": f"many {n}"} for n in range(1030)))
    seen, cursor, done = 0, None, False
    while not done:
        db, _ = reader(store)
        page = await searching(db, "many").paginate({"numItems": 500, "cursor": cursor})
        seen += len(page["page"])
        cursor, done = page["continueCursor"], page["isDone"]
    assert seen == 1024
