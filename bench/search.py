"""`python -m bench search`: full-text search latency over 100,000 messages.

Loads the same 100,000 chat messages (8 words each from a Zipf-distributed
vocabulary of 5,000 words, in 10 channels) into a livesync store with the
chat example's search index, and into a bare table of the engine: an FTS5
table (SQLite) or a table with a GIN-indexed `tsvector` (PostgreSQL, on
LIVESYNC_BENCH_POSTGRES_URL or the tests' URL; skipped without one). Then
times the same queries (two words, the last as a prefix) both ways, one at
a time, in two shapes: within one channel (the chat example's
`messages:search`) and over every channel:

- livesync: `ctx.db.query("messages").with_search_index(...).take(20)` run
  through `DatabaseReader` on a snapshot, in process: the engine's lookup of
  candidates at the snapshot ts (newest version of each message, at most
  1,025), loading them, the ranking in Python and the read set;
- bare: the engine's own ranked top 20 (FTS5 `ORDER BY rank`, PostgreSQL
  `ts_rank`), no versions, no documents decoded.

Prints p50 and p99 per query and the ratio of livesync's p50 to the bare one's.
"""

from __future__ import annotations

import random
import sqlite3
import time
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg

from bench.harness import Settings, postgres_database, postgres_server_url
from bench.report import Figure, percentile, print_figure
from server.functions.database import DatabaseReader, TableCatalog
from server.functions.readset import ReadSet
from server.functions.schema import define_schema, define_table
from server.functions.validators import v
from server.store.base import Store
from server.store.postgres import PostgresStore
from server.store.search_text import tokenize
from server.store.sqlite import SqliteStore

__all__ = ["run_search"]

SCHEMA = define_schema(
    {
        "messages": define_table({"channel": v.string(), "body": v.string()})
        .index("by_channel", ["channel"])
        .search_index("search_body", search_field="body", filter_fields=["channel"])
    }
)
CHANNELS = 10
VOCABULARY = 5_000
WORDS_PER_MESSAGE = 8
BATCH = 1_000  # messages per commit while loading
TAKE = 20

Message = tuple[str, str]  # (channel, body)
Query = tuple[str, str | None]  # (text, channel or None)


def _vocabulary(rng: random.Random) -> list[str]:
    syllables = ["ka", "lo", "mi", "ne", "ru", "sa", "ti", "vo", "ze", "po", "qu", "da", "fe"]
    words: dict[str, None] = {}
    while len(words) < VOCABULARY:
        words["".join(rng.choice(syllables) for _ in range(rng.randint(2, 4)))] = None
    return list(words)


def corpus(size: int, seed: int = 17) -> tuple[list[Message], list[str]]:
    rng = random.Random(seed)
    words = _vocabulary(rng)
    weights = [1 / (rank + 1) for rank in range(len(words))]  # Zipf, s = 1
    messages = []
    for _ in range(size):
        body = " ".join(rng.choices(words, weights, k=WORDS_PER_MESSAGE))
        messages.append((f"channel{rng.randrange(CHANNELS)}", body))
    return messages, words


def queries(words: list[str], count: int, seed: int = 3) -> list[Query]:
    """Two words from the 2,000 most common, the second typed half way (a
    prefix), half of them within one channel."""
    rng = random.Random(seed)
    found: list[Query] = []
    for n in range(count):
        first, second = rng.choice(words[:2000]), rng.choice(words[:2000])
        text = f"{first} {second[: max(2, len(second) // 2 + 1)]}"
        found.append((text, f"channel{rng.randrange(CHANNELS)}" if n % 2 == 0 else None))
    return found


async def _load(store: Store, messages: list[Message]) -> None:
    for start in range(0, len(messages), BATCH):
        batch = messages[start : start + BATCH]

        async def write(tx: Any, batch: list[Message] = batch) -> None:
            for channel, body in batch:
                await tx.insert("messages", {"channel": channel, "body": body})

        await store.write(write)


async def _livesync_query(store: Store, text: str, channel: str | None) -> int:
    db = DatabaseReader(store.snapshot(), ReadSet(), schema=SCHEMA, catalog=TableCatalog())

    def search(q: Any) -> Any:
        q = q.search("body", text)
        return q if channel is None else q.eq("channel", channel)

    rows = await db.query("messages").with_search_index("search_body", search).take(TAKE)
    return len(rows)


async def _time(
    run: Callable[[str, str | None], Awaitable[int]], shape: list[Query]
) -> tuple[list[float], int]:
    latencies, found = [], 0
    for text, channel in shape:
        started = time.perf_counter()
        found += await run(text, channel)
        latencies.append((time.perf_counter() - started) * 1000)
    return latencies, found


def _figures(
    backend: str, shape: str, ours: list[float], bare: list[float], found: tuple[int, int]
) -> list[Figure]:
    name = f"search-{backend}"
    ours50, bare50 = percentile(ours, 50), percentile(bare, 50)
    figures = [
        Figure(name, f"{shape} livesync p50", ours50, "ms"),
        Figure(name, f"{shape} livesync p99", percentile(ours, 99), "ms"),
        Figure(name, f"{shape} bare p50", bare50, "ms"),
        Figure(name, f"{shape} bare p99", percentile(bare, 99), "ms"),
        Figure(name, f"{shape} livesync/bare p50", ours50 / bare50, "x"),
        Figure(name, f"{shape} livesync results per query", found[0] / len(ours), ""),
        Figure(name, f"{shape} bare results per query", found[1] / len(bare), ""),
    ]
    return [print_figure(f) for f in figures]


async def _measure(
    backend: str,
    store: Store,
    bare: Callable[[str, str | None], Awaitable[int]],
    all_queries: list[Query],
) -> list[Figure]:
    async def ours(text: str, channel: str | None) -> int:
        return await _livesync_query(store, text, channel)

    # Warm both (caches, prepared statements) on queries not measured.
    await _time(ours, all_queries[:20])
    await _time(bare, all_queries[:20])
    figures: list[Figure] = []
    measured = all_queries[20:]
    for shape, selected in (
        ("one channel", [q for q in measured if q[1] is not None]),
        ("all channels", [q for q in measured if q[1] is None]),
    ):
        # Interleaved halves, so drift in the machine's load hits both alike.
        half = len(selected) // 2
        ours_a, found_a = await _time(ours, selected[:half])
        bare_a, bare_found_a = await _time(bare, selected[:half])
        bare_b, bare_found_b = await _time(bare, selected[half:])
        ours_b, found_b = await _time(ours, selected[half:])
        figures += _figures(
            backend,
            shape,
            ours_a + ours_b,
            bare_a + bare_b,
            (found_a + found_b, bare_found_a + bare_found_b),
        )
    return figures


def _fts5_terms(text: str) -> str:
    *rest, last = tokenize(text)
    return " OR ".join([*(f'"{t}"' for t in rest), f'"{last}"*'])


async def _run_sqlite(settings: Settings, messages: list[Message], qs: list[Query]) -> list[Figure]:
    store = SqliteStore(settings.workdir / "search.sqlite")
    await store.open(SCHEMA.index_defs())
    bare_path = settings.workdir / "bare-fts5.sqlite"
    conn = sqlite3.connect(bare_path)
    try:
        started = time.perf_counter()
        await _load(store, messages)
        print(f"[search-sqlite] loaded livesync in {time.perf_counter() - started:.1f} s")
        conn.execute("CREATE VIRTUAL TABLE messages USING fts5(body, channel UNINDEXED)")
        with conn:
            conn.executemany(
                "INSERT INTO messages (body, channel) VALUES (?, ?)",
                [(body, channel) for channel, body in messages],
            )

        async def bare(text: str, channel: str | None) -> int:
            match = _fts5_terms(text)
            if channel is None:
                sql = (
                    "SELECT rowid, body FROM messages WHERE messages MATCH ? ORDER BY rank LIMIT ?"
                )
                rows = conn.execute(sql, (match, TAKE)).fetchall()
            else:
                sql = (
                    "SELECT rowid, body FROM messages WHERE messages MATCH ? AND channel = ?"
                    " ORDER BY rank LIMIT ?"
                )
                rows = conn.execute(sql, (match, channel, TAKE)).fetchall()
            return len(rows)

        return await _measure("sqlite", store, bare, qs)
    finally:
        conn.close()
        await store.close()


async def _run_postgres(server_url: str, messages: list[Message], qs: list[Query]) -> list[Figure]:
    async with postgres_database(server_url) as url, postgres_database(server_url) as bare_url:
        store = PostgresStore(url)
        await store.open(SCHEMA.index_defs())
        conn = await asyncpg.connect(bare_url)
        try:
            started = time.perf_counter()
            await _load(store, messages)
            print(f"[search-postgres] loaded livesync in {time.perf_counter() - started:.1f} s")
            await conn.execute(
                "CREATE TABLE messages (id serial PRIMARY KEY, channel text, body text,"
                " terms tsvector GENERATED ALWAYS AS (to_tsvector('simple', body)) STORED)"
            )
            await conn.executemany("INSERT INTO messages (channel, body) VALUES ($1, $2)", messages)
            await conn.execute("CREATE INDEX ON messages USING gin (terms)")
            await conn.execute("ANALYZE messages")

            async def bare(text: str, channel: str | None) -> int:
                *rest, last = tokenize(text)
                query = " | ".join([*(f"'{t}'" for t in rest), f"'{last}':*"])
                if channel is None:
                    rows = await conn.fetch(
                        "SELECT id, body FROM messages WHERE terms @@ $1::tsquery"
                        " ORDER BY ts_rank(terms, $1::tsquery) DESC LIMIT $2",
                        query,
                        TAKE,
                    )
                else:
                    rows = await conn.fetch(
                        "SELECT id, body FROM messages WHERE terms @@ $1::tsquery AND channel = $3"
                        " ORDER BY ts_rank(terms, $1::tsquery) DESC LIMIT $2",
                        query,
                        TAKE,
                        channel,
                    )
                return len(rows)

            return await _measure("postgres", store, bare, qs)
        finally:
            await conn.close()
            await store.close()


async def run_search(settings: Settings) -> list[Figure]:
    size = settings.size(10_000, 100_000)
    messages, words = corpus(size)
    qs = queries(words, settings.size(120, 420))
    print(f"[search] {size:,} messages, {len(qs) - 20} queries per backend", flush=True)
    figures = await _run_sqlite(settings, messages, qs)
    server_url = postgres_server_url()
    if server_url is None:
        print("[search-postgres] skipped: no LIVESYNC_BENCH_POSTGRES_URL", flush=True)
    else:
        figures += await _run_postgres(server_url, messages, qs)
    return figures
