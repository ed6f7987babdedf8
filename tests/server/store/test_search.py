"""Search indexes on both backends: the same results on a shared corpus,
reads at the snapshot ts, writes seen inside their transaction, backfill,
vacuum and the keys a commit changes."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pytest

from server.store.base import IndexDef, SearchIndexDef, SearchRequest, Store
from server.store.keys import MISSING_FIELD, encode_value, index_key
from server.store.search_text import QueryTerms, rank, tokenize
from tests.helpers.stores import BACKENDS, StoreBackend, open_backend

SEARCH = SearchIndexDef("messages", "messages.search_body", "body", ("channel", "room"))
BY_CHANNEL = IndexDef("messages", "messages.by_channel", ("channel",))

_WORDS = (
    "hello world wonder wonderful apple apply application banana band bandana cafe café "
    "deploy deployment server servers sync synchronous query queries index indexes "
    "Résumé naïve straße 東京 data database"
).split()


def corpus(size: int = 300, seed: int = 17) -> list[dict[str, Any]]:
    """Messages of 1-12 words from a small vocabulary (so words repeat and
    scores differ), in three channels, with punctuation and case mixed in."""
    rng = random.Random(seed)
    docs = []
    for n in range(size):
        words = [rng.choice(_WORDS) for _ in range(rng.randint(1, 12))]
        if rng.random() < 0.3:
            words = [w.upper() if rng.random() < 0.5 else w + rng.choice("!?,.;") for w in words]
        doc: dict[str, Any] = {"n": n, "channel": rng.choice("abc"), "body": " ".join(words)}
        if rng.random() < 0.5:
            doc["room"] = rng.randint(1, 2)
        if rng.random() < 0.05:
            doc["body"] = 5  # not a string: not in the index
        docs.append(doc)
    return docs


QUERIES: list[tuple[str, dict[str, Any]]] = [
    ("hello", {}),
    ("HELLO, world", {}),
    ("wo", {}),
    ("wonder", {}),
    ("app", {"channel": "a"}),
    ("banana band", {"channel": "b"}),
    ("cafe", {}),
    ("café", {}),
    ("sync server", {"channel": "c", "room": 1}),
    ("東京", {}),
    ("straße data", {"room": 2}),
    ("naïve résumé", {}),
    ("index query deploy d", {}),
    ("zzz", {}),
]


def request(
    text: str, filters: dict[str, Any], limit: int = 10_000
) -> tuple[SearchRequest, QueryTerms]:
    terms = QueryTerms.parse(text)
    assert terms.prefix is not None
    encoded = tuple(
        (SEARCH.filter_fields.index(name), encode_value(value)) for name, value in filters.items()
    )
    return SearchRequest(SEARCH.name, terms.exact, terms.prefix, encoded, limit), terms


async def search(store: Store, text: str, filters: dict[str, Any]) -> list[int]:
    req, terms = request(text, filters)
    found = await store.snapshot().search(req)
    ranked = rank(found, [doc["body"] for doc in found], terms)
    return [doc["n"] for doc in ranked]


def reference(docs: list[dict[str, Any]], text: str, filters: dict[str, Any]) -> list[int]:
    """The same search by brute force over the corpus in Python."""
    _, terms = request(text, filters)
    candidates = []
    for doc in docs:
        if not isinstance(doc["body"], str):
            continue
        if any(doc.get(name, _MISSING) != value for name, value in filters.items()):
            continue
        tokens = tokenize(doc["body"])
        if any(t in terms.exact or t.startswith(terms.prefix or "") for t in tokens):
            candidates.append(doc)
    return [doc["n"] for doc in rank(candidates, [d["body"] for d in candidates], terms)]


_MISSING = object()


async def load(store: Store, docs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Insert `docs` in order, 50 per commit; return them with their system fields."""
    stored = []
    for start in range(0, len(docs), 50):
        batch = docs[start : start + 50]

        async def write(tx: Any, batch: list[dict[str, Any]] = batch) -> list[str]:
            return [await tx.insert("messages", doc) for doc in batch]

        ids, _ = await store.write(write)
        snap = store.snapshot()
        stored += [await snap.get(doc_id) for doc_id in ids]
    return stored


@pytest.fixture
async def store(store_backend: StoreBackend) -> Any:
    store = store_backend.make()
    await store.open([BY_CHANNEL, SEARCH])
    yield store
    await store.close()


async def test_results_equal_a_brute_force_reference_on_each_backend(store: Store) -> None:
    docs = await load(store, corpus())
    for text, filters in QUERIES:
        assert await search(store, text, filters) == reference(docs, text, filters), text


async def test_both_backends_return_the_same_documents_in_the_same_order(
    tmp_path: Path,
) -> None:
    results: dict[str, list[list[int]]] = {}
    for name in BACKENDS:
        async with open_backend(name, tmp_path) as backend:
            store = backend.make()
            await store.open([BY_CHANNEL, SEARCH])
            try:
                await load(store, corpus())
                results[name] = [await search(store, t, f) for t, f in QUERIES]
            finally:
                await store.close()
    assert results["sqlite"] == results["postgres"]
    assert sum(map(len, results["sqlite"])) > 300  # the queries do find things


async def test_a_search_reads_at_its_snapshot(store: Store) -> None:
    docs = await load(store, [{"n": 0, "channel": "a", "body": "hello there"}])
    before = store.snapshot()
    await store.write(lambda tx: tx.patch(docs[0]["_id"], {"body": "goodbye"}))
    await load(store, [{"n": 1, "channel": "a", "body": "hello again"}])
    req, _ = request("hello", {})
    assert [d["n"] for d in await before.search(req)] == [0]
    assert [d["n"] for d in await store.snapshot().search(req)] == [1]
    await store.write(lambda tx: tx.delete(docs[0]["_id"]))
    assert [d["n"] for d in await before.search(req)] == [0]


async def test_newest_candidates_first_and_limit(store: Store) -> None:
    for n in range(5):  # one commit each
        await load(store, [{"n": n, "channel": "a", "body": "same words"}])
    req, _ = request("same", {}, limit=3)
    found = await store.snapshot().search(req)
    assert len(found) == 3
    assert [d["n"] for d in found] == [4, 3, 2]  # the most recently written


async def test_a_transaction_sees_its_own_writes(store: Store) -> None:
    docs = await load(
        store,
        [
            {"n": 0, "channel": "a", "body": "hello"},
            {"n": 1, "channel": "a", "body": "hello"},
            {"n": 2, "channel": "a", "body": "other"},
        ],
    )
    req, _ = request("hello", {"channel": "a"})

    async def write(tx: Any) -> list[Any]:
        await tx.patch(docs[0]["_id"], {"body": "bye"})  # leaves
        await tx.patch(docs[1]["_id"], {"extra": True})  # stays, with its new value
        await tx.patch(docs[2]["_id"], {"body": "hello you"})  # arrives
        await tx.insert("messages", {"n": 3, "channel": "b", "body": "hello"})  # filtered out
        return sorted((d["n"], d.get("extra")) for d in await tx.search(req))

    seen, _ = await store.write(write)
    assert seen == [(1, True), (2, None)]
    committed = sorted((d["n"], d.get("extra")) for d in await store.snapshot().search(req))
    assert committed == seen


async def test_commit_keys_only_when_the_search_entry_changes(store: Store) -> None:
    docs = await load(store, [{"n": 0, "channel": "a", "body": "hello"}])
    doc_id = docs[0]["_id"]
    _, commit = await store.write(lambda tx: tx.patch(doc_id, {"other": 1}))
    assert not [k for k in commit.keys if k.index == SEARCH.name]
    _, commit = await store.write(lambda tx: tx.patch(doc_id, {"channel": "b"}))
    keys = {k.key for k in commit.keys if k.index == SEARCH.name}
    assert keys == {
        index_key(("a", MISSING_FIELD), doc_id),
        index_key(("b", MISSING_FIELD), doc_id),
    }


async def test_a_new_search_index_is_backfilled_on_open(store_backend: StoreBackend) -> None:
    store = store_backend.make()
    await store.open([BY_CHANNEL])
    docs = await load(store, corpus(60))
    await store.close()
    store = store_backend.make()
    await store.open([BY_CHANNEL, SEARCH])
    try:
        for text, filters in QUERIES[:6]:
            assert await search(store, text, filters) == reference(docs, text, filters)
    finally:
        await store.close()
    store = store_backend.make()
    await store.open([BY_CHANNEL])  # dropped again: its rows go
    await store.close()
    rows = await store_backend.fetch("SELECT count(*) FROM search_entries")
    assert rows[0][0] == 0


async def test_vacuum_keeps_what_snapshots_from_the_horizon_see(store: Store) -> None:
    docs = await load(store, [{"n": n, "channel": "a", "body": "hello"} for n in range(3)])
    await store.write(lambda tx: tx.patch(docs[0]["_id"], {"body": "bye"}))
    await store.write(lambda tx: tx.delete(docs[1]["_id"]))
    deleted = await store.vacuum_before(store.latest_ts)
    assert deleted > 0
    req, _ = request("hello", {})
    assert [d["n"] for d in await store.snapshot().search(req)] == [2]
    req, _ = request("bye", {})
    assert [d["n"] for d in await store.snapshot().search(req)] == [0]
