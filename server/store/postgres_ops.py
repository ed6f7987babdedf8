"""The SQL of the PostgreSQL store, as async functions of an asyncpg connection.

Tables (multi-version, as in `server.store.sqlite_ops`: rows are only ever
added, except by vacuum; `bytea` keys compare with memcmp, like SQLite's BLOB):

    documents(id, ts, tbl, value, deleted)        one row per document version
    index_entries(idx, key, ts, doc_id, deleted)  one row per index key change
    meta                                          one row: latest_ts,
                                                  creation_floor, indexes,
                                                  value_format, log_floor,
                                                  tables_catalogued
    mutation_results(session_id, request_id, ts, result, fingerprint)
    search_entries(idx, doc_id, ts, deleted, filters, terms)
                                                  one row per change of what a
                                                  search index holds of a
                                                  document (search_index.py);
                                                  terms a tsvector, GIN-indexed

The value at snapshot `T` of a document (or an index key) is its newest row
with `ts <= T`, unless that row is a deletion.

Writers serialize on one transaction-scoped advisory lock (`WRITE_LOCK`),
taken first in every write transaction, so the meta row read after it is the
newest commit of any process on the database. Holding it for the whole
transaction (the mutations run while it is held) is what makes commits
serial across processes; its cost is that no two writes overlap, even two
that touch different documents.

Every function here translates asyncpg and socket errors into `StoreError`
(`StoreUnavailable` when the connection is gone), so none leak upwards.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Any, Literal, ParamSpec, TypeVar

import asyncpg

from server.errors import StoreError, StoreUnavailable
from server.store.base import SearchRequest, StoredResult
from server.store.catalog import VALUE_FORMAT, IndexCatalog, load_document
from server.store.search_index import SearchRow, entry_for, tsquery

__all__ = [
    "WRITE_LOCK",
    "DocRow",
    "IndexRow",
    "Meta",
    "PageRow",
    "ResultRow",
    "begin_locked",
    "commit",
    "create_schema",
    "end",
    "get_document",
    "get_mutation_results",
    "load_meta",
    "mark_tables_catalogued",
    "migrate_indexes",
    "prune_mutation_results",
    "read_page",
    "rollback",
    "search",
    "tables",
    "tables_catalogued",
    "translate",
    "vacuum",
]

P = ParamSpec("P")
T = TypeVar("T")

DocRow = tuple[str, str, str | None, bool]
"""(id, tbl, value, deleted): the ts is the transaction's."""
IndexRow = tuple[str, bytes, str, bool]
"""(idx, key, doc_id, deleted)"""
ResultRow = tuple[str, int, str, str | None]
"""(session_id, request_id, result, fingerprint)"""
PageRow = tuple[bytes, bool, str | None]
"""(key, deleted, document value at the snapshot)"""
Meta = tuple[int, int, str | None, int]
"""(latest_ts, creation_floor, indexes JSON, value_format)"""

WRITE_LOCK = 0x6C69766573796E63  # "livesync": the key of the advisory write lock
COMMITS_CHANNEL = "livesync_commits"
"""LISTEN/NOTIFY channel: each commit sends "<node> <ts>" when it commits."""

_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS documents (
    id text COLLATE "C" NOT NULL, ts bigint NOT NULL, tbl text COLLATE "C" NOT NULL,
    value text, deleted boolean NOT NULL,
    PRIMARY KEY (id, ts)
);
CREATE TABLE IF NOT EXISTS index_entries (
    idx text COLLATE "C" NOT NULL, key bytea NOT NULL, ts bigint NOT NULL,
    doc_id text COLLATE "C" NOT NULL, deleted boolean NOT NULL,
    PRIMARY KEY (idx, key, ts)
);
CREATE TABLE IF NOT EXISTS meta (
    one boolean PRIMARY KEY DEFAULT true CHECK (one),
    latest_ts bigint NOT NULL, creation_floor bigint NOT NULL,
    indexes text, value_format integer NOT NULL,
    log_floor bigint NOT NULL DEFAULT 0
);
INSERT INTO meta (latest_ts, creation_floor, value_format)
    VALUES (0, 0, {VALUE_FORMAT}) ON CONFLICT DO NOTHING;
-- A database from before the catalog of table names. Checked first: ALTER
-- TABLE locks the table out of every reader even when it changes nothing.
DO $$ BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = 'meta'::regclass
                   AND attname = 'tables_catalogued' AND NOT attisdropped) THEN
        ALTER TABLE meta ADD COLUMN tables_catalogued boolean NOT NULL DEFAULT false;
    END IF;
END $$;
CREATE TABLE IF NOT EXISTS commit_log (
    ts bigint PRIMARY KEY, node text COLLATE "C" NOT NULL,
    idx text[] NOT NULL, keys bytea[] NOT NULL
);
CREATE TABLE IF NOT EXISTS mutation_results (
    session_id text COLLATE "C" NOT NULL, request_id bigint NOT NULL,
    ts bigint NOT NULL, result text NOT NULL, fingerprint text,
    PRIMARY KEY (session_id, request_id)
);
CREATE TABLE IF NOT EXISTS search_entries (
    idx text COLLATE "C" NOT NULL, doc_id text COLLATE "C" NOT NULL, ts bigint NOT NULL,
    deleted boolean NOT NULL, filters text NOT NULL, terms tsvector NOT NULL,
    PRIMARY KEY (idx, doc_id, ts)
);
CREATE INDEX IF NOT EXISTS search_entries_terms ON search_entries USING gin (terms);
"""

_LOCK = f"BEGIN; SELECT pg_advisory_xact_lock({WRITE_LOCK})"
_LOAD_META = "SELECT latest_ts, creation_floor, indexes, value_format FROM meta"
_GET_DOCUMENT = (
    "SELECT tbl, value, deleted FROM documents WHERE id = $1 AND ts <= $2 ORDER BY ts DESC LIMIT 1"
)
# One statement writes every pending row (arrays unnested server side), so a
# batch costs one round trip however many rows it holds; a row written again
# by the same transaction (same ts) replaces the earlier one.
_INSERT_DOCUMENTS = """
INSERT INTO documents (id, ts, tbl, value, deleted)
SELECT id, $1, tbl, value, deleted
FROM unnest($2::text[], $3::text[], $4::text[], $5::boolean[]) AS r(id, tbl, value, deleted)
ON CONFLICT (id, ts) DO UPDATE
SET tbl = excluded.tbl, value = excluded.value, deleted = excluded.deleted"""
_INSERT_ENTRIES = """
INSERT INTO index_entries (idx, key, ts, doc_id, deleted)
SELECT idx, key, $1, doc_id, deleted
FROM unnest($6::text[], $7::bytea[], $8::text[], $9::boolean[]) AS r(idx, key, doc_id, deleted)
ON CONFLICT (idx, key, ts) DO UPDATE SET doc_id = excluded.doc_id, deleted = excluded.deleted"""
_INSERT_RESULTS = """
INSERT INTO mutation_results (session_id, request_id, ts, result, fingerprint)
SELECT session_id, request_id, $1, result, fingerprint
FROM unnest($10::text[], $11::bigint[], $12::text[], $13::text[])
    AS r(session_id, request_id, result, fingerprint)
ON CONFLICT (session_id, request_id) DO UPDATE
SET ts = excluded.ts, result = excluded.result, fingerprint = excluded.fingerprint"""
# The commit's index keys go to the log, which other nodes read to learn what
# it changed; its notification (sent at COMMIT, in commit order) wakes them.
_LOG_COMMIT = "INSERT INTO commit_log (ts, node, idx, keys) VALUES ($1, $15, $16, $17)"
# The terms arrive tokenized (search_text.py) and become lexemes as they are:
# no parser or dictionary of PostgreSQL's touches them.
_INSERT_SEARCH = """
INSERT INTO search_entries (idx, doc_id, ts, deleted, filters, terms)
SELECT idx, doc_id, $1, deleted, filters, array_to_tsvector(string_to_array(terms, ' '))
FROM unnest($18::text[], $19::text[], $20::boolean[], $21::text[], $22::text[])
    AS r(idx, doc_id, deleted, filters, terms)"""
_COMMIT_ROWS = f"""
WITH d AS ({_INSERT_DOCUMENTS}), e AS ({_INSERT_ENTRIES}), r AS ({_INSERT_RESULTS}),
    c AS ({_LOG_COMMIT}), s AS ({_INSERT_SEARCH})
UPDATE meta SET latest_ts = $1, creation_floor = greatest(creation_floor, $14)
RETURNING pg_notify('{COMMITS_CHANNEL}', $15 || ' ' || $1::text)"""


def _page_sql(order: Literal["asc", "desc"], bounded: bool) -> str:
    # The inner query keeps, per key, the newest entry at or before the
    # snapshot; the outer one reads each live entry's document version then.
    direction = "ASC" if order == "asc" else "DESC"
    upper = "AND key < $3" if bounded else "AND $3::bytea IS NULL"
    return f"""
SELECT g.key, g.deleted, CASE WHEN g.deleted THEN NULL ELSE (
    SELECT d.value FROM documents d
    WHERE d.id = g.doc_id AND d.ts <= $4 ORDER BY d.ts DESC LIMIT 1
) END
FROM (
    SELECT DISTINCT ON (key) key, doc_id, deleted FROM index_entries
    WHERE idx = $1 AND key >= $2 {upper} AND ts <= $4
    ORDER BY key {direction}, ts DESC LIMIT $5
) g
ORDER BY g.key {direction}"""


_PAGE_SQL = {
    (order, bounded): _page_sql(order, bounded)
    for order in ("asc", "desc")
    for bounded in (True, False)
}

# asyncpg errors that mean the connection (or the server) is gone, not that
# the statement was wrong: the same call may succeed on a new connection.
_UNAVAILABLE: tuple[type[BaseException], ...] = (
    OSError,
    asyncpg.ConnectionDoesNotExistError,
    asyncpg.PostgresConnectionError,
    asyncpg.CannotConnectNowError,
    asyncpg.AdminShutdownError,
    asyncpg.CrashShutdownError,
    asyncpg.TooManyConnectionsError,
)


def translate(fn: Callable[P, Awaitable[T]]) -> Callable[P, Awaitable[T]]:
    """Wrap an async function so asyncpg and socket errors become `StoreError`."""

    @functools.wraps(fn)
    async def translated(*args: P.args, **kwargs: P.kwargs) -> T:
        try:
            return await fn(*args, **kwargs)
        except _UNAVAILABLE as exc:
            raise StoreUnavailable(f"PostgreSQL is unavailable: {exc}") from exc
        except (asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            raise StoreError(f"PostgreSQL error: {exc}") from exc

    return translated


@translate
async def begin_locked(conn: asyncpg.Connection) -> None:
    """Open a transaction and take the write lock (one round trip); every
    statement after it sees the commits of every process before it."""
    await conn.execute(_LOCK)


@translate
async def end(conn: asyncpg.Connection) -> None:
    await conn.execute("COMMIT")


@translate
async def create_schema(conn: asyncpg.Connection) -> None:
    """Create the tables if missing; run it under the write lock, so two
    processes starting at once do not race."""
    await conn.execute(_SCHEMA)


@translate
async def load_meta(conn: asyncpg.Connection) -> Meta:
    """The meta row: in a write transaction, the newest commit of any process."""
    row = await conn.fetchrow(_LOAD_META)
    if row is None:
        raise StoreError("The meta row of the PostgreSQL store is missing")
    return int(row[0]), int(row[1]), row[2], int(row[3])


@translate
async def tables_catalogued(conn: asyncpg.Connection) -> bool:
    """Whether the catalog of table names was filled (see
    `core.fill_table_catalog`)."""
    return bool(await conn.fetchval("SELECT tables_catalogued FROM meta"))


@translate
async def mark_tables_catalogued(conn: asyncpg.Connection) -> None:
    await conn.execute("UPDATE meta SET tables_catalogued = true")


@translate
async def get_document(conn: asyncpg.Connection, doc_id: str, ts: int) -> tuple[str, str] | None:
    """`(table, value)` of the document's version at `ts`, or None."""
    row = await conn.fetchrow(_GET_DOCUMENT, doc_id, ts)
    if row is None or row[2]:
        return None
    return row[0], row[1]


@translate
async def tables(conn: asyncpg.Connection, ts: int) -> list[str]:
    """The tables with a document version at or before `ts`, sorted."""
    rows = await conn.fetch("SELECT DISTINCT tbl FROM documents WHERE ts <= $1 ORDER BY tbl", ts)
    return [row[0] for row in rows]


@translate
async def read_page(
    conn: asyncpg.Connection,
    idx: str,
    lo: bytes,
    hi: bytes | None,
    ts: int,
    order: Literal["asc", "desc"],
    limit: int,
) -> list[PageRow]:
    """Up to `limit` keys of `idx` in `[lo, hi)` as of `ts`, tombstones included
    (so a short page means the range is exhausted)."""
    rows = await conn.fetch(_PAGE_SQL[(order, hi is not None)], idx, lo, hi, ts, limit)
    return [(row[0], row[1], row[2]) for row in rows]


@translate
async def search(conn: asyncpg.Connection, request: SearchRequest, ts: int) -> list[str]:
    """The values at `ts` of the documents matching `request`, most recently
    written first (see `Snapshot.search`)."""
    # The GIN index finds the rows holding a term; of those, a row counts
    # only if it is its document's newest at `ts`.
    filters = "".join(
        f" AND (s.filters::jsonb ->> {position}) = ${5 + n}"
        for n, (position, _) in enumerate(request.filters)
    )
    sql = f"""
SELECT (SELECT d.value FROM documents d
        WHERE d.id = s.doc_id AND d.ts <= $3 ORDER BY d.ts DESC LIMIT 1)
FROM search_entries s
WHERE s.terms @@ $2::tsquery AND s.idx = $1 AND s.ts <= $3 AND NOT s.deleted{filters}
    AND NOT EXISTS (SELECT 1 FROM search_entries n
                    WHERE n.idx = s.idx AND n.doc_id = s.doc_id AND n.ts > s.ts AND n.ts <= $3)
ORDER BY s.ts DESC, s.doc_id DESC LIMIT $4"""
    values = [encoded.hex() for _, encoded in request.filters]
    rows = await conn.fetch(sql, request.index, tsquery(request), ts, request.limit, *values)
    return [row[0] for row in rows]


@translate
async def get_mutation_results(
    conn: asyncpg.Connection, keys: Sequence[tuple[str, int]], max_ts: int
) -> dict[tuple[str, int], StoredResult]:
    rows = await conn.fetch(
        "SELECT r.session_id, r.request_id, r.ts, r.result, r.fingerprint"
        " FROM unnest($1::text[], $2::bigint[]) AS k(session_id, request_id)"
        " JOIN mutation_results r USING (session_id, request_id) WHERE r.ts <= $3",
        *_columns(keys, 2),
        max_ts,
    )
    return {(row[0], row[1]): (row[2], row[3], row[4]) for row in rows}


def _columns(rows: Sequence[tuple[Any, ...]], width: int) -> list[list[Any]]:
    return [list(column) for column in zip(*rows, strict=True)] if rows else [[]] * width


@translate
async def commit(
    conn: asyncpg.Connection,
    ts: int,
    creation_floor: int,
    doc_rows: Sequence[DocRow],
    index_rows: Sequence[IndexRow],
    result_rows: Sequence[ResultRow],
    node: str,
    keys: Sequence[tuple[str, bytes]],
    search_rows: Sequence[SearchRow] = (),
) -> None:
    """Write the remaining rows, the commit's log entry (`keys` as (index,
    key)) and the meta row (`latest_ts = ts`), then COMMIT: two round trips.
    The caller rolls back if this raises."""
    await conn.execute(
        _COMMIT_ROWS,
        ts,
        *_columns(doc_rows, 4),
        *_columns(index_rows, 4),
        *_columns(result_rows, 4),
        creation_floor,
        node,
        *_columns(keys, 2),
        *_columns(search_rows, 5),
    )
    await conn.execute("COMMIT")


@translate
async def commits_after(
    conn: asyncpg.Connection, ts: int
) -> list[tuple[int, str, list[str], list[bytes]]] | None:
    """The logged commits after `ts`, oldest first, as (ts, node, indexes,
    keys); None when the log was pruned past `ts`, so some are unknown."""
    async with conn.transaction(isolation="repeatable_read", readonly=True):
        floor = await conn.fetchval("SELECT log_floor FROM meta")
        if floor is None or ts < floor:
            return None
        rows = await conn.fetch(
            "SELECT ts, node, idx, keys FROM commit_log WHERE ts > $1 ORDER BY ts", ts
        )
    return [(int(row[0]), row[1], list(row[2]), list(row[3])) for row in rows]


async def rollback(conn: asyncpg.Connection) -> None:
    """Roll back the open transaction, if any; on failure the caller drops
    the connection."""
    if conn.is_in_transaction():
        await translate(conn.execute)("ROLLBACK")


@translate
async def migrate_indexes(
    conn: asyncpg.Connection, old: IndexCatalog, new: IndexCatalog
) -> tuple[list[str], list[str]]:
    """Drop the entries of indexes no longer defined (or redefined) and
    backfill the new ones from each live document's latest version, in the
    caller's transaction. Returns `(added, removed)` index names."""
    added, removed = new.changes_from(old)
    await conn.execute("DELETE FROM index_entries WHERE idx = any($1::text[])", removed)
    for index in added:
        rows = await _backfill_rows(conn, new, index.table, index.name)
        # Entries carry the version's own ts, so snapshots from then on see them.
        await conn.execute(
            "INSERT INTO index_entries (idx, key, ts, doc_id, deleted)"
            " SELECT $1, key, ts, doc_id, false"
            " FROM unnest($2::bytea[], $3::bigint[], $4::text[]) AS r(key, ts, doc_id)",
            index.name,
            *_columns(list(rows), 3),
        )
    added_search, removed_search = new.search_changes_from(old)
    await conn.execute("DELETE FROM search_entries WHERE idx = any($1::text[])", removed_search)
    for search_index in added_search:
        entries: list[tuple[str, int, str, str]] = []
        for doc_id, ts, value in await _latest_versions(conn, search_index.table):
            entry = entry_for(search_index, load_document(value))
            if entry is not None:
                entries.append((doc_id, ts, entry.filters, entry.terms))
        await conn.execute(
            "INSERT INTO search_entries (idx, doc_id, ts, deleted, filters, terms)"
            " SELECT $1, doc_id, ts, false, filters, array_to_tsvector(string_to_array(terms, ' '))"
            " FROM unnest($2::text[], $3::bigint[], $4::text[], $5::text[])"
            " AS r(doc_id, ts, filters, terms)",
            search_index.name,
            *_columns(entries, 4),
        )
    await conn.execute("UPDATE meta SET indexes = $1", new.to_json())
    return [d.name for d in added] + [d.name for d in added_search], removed + removed_search


async def _latest_versions(conn: asyncpg.Connection, table: str) -> list[tuple[str, int, str]]:
    """`(id, ts, value)` of the latest version of each live document of `table`."""
    latest = await conn.fetch(
        "SELECT DISTINCT ON (id) id, ts, value, deleted FROM documents"
        " WHERE tbl = $1 ORDER BY id, ts DESC",
        table,
    )
    return [(row[0], row[1], row[2]) for row in latest if not row[3]]


async def _backfill_rows(
    conn: asyncpg.Connection, catalog: IndexCatalog, table: str, index: str
) -> Iterable[tuple[bytes, int, str]]:
    latest = await conn.fetch(
        "SELECT DISTINCT ON (id) id, ts, value, deleted FROM documents"
        " WHERE tbl = $1 ORDER BY id, ts DESC",
        table,
    )
    rows = []
    for doc_id, ts, value, deleted in latest:
        if deleted:
            continue
        key = dict(catalog.keys(table, load_document(value)))[index]
        assert key is not None
        rows.append((key, ts, doc_id))
    return rows


@translate
async def prune_mutation_results(conn: asyncpg.Connection, before_ts: int) -> int:
    """Delete the stored mutation results committed before `before_ts`;
    returns how many went."""
    status = await conn.execute("DELETE FROM mutation_results WHERE ts < $1", before_ts)
    return _row_count(status)


# The log of what older commits changed goes with their history: a node that
# has published nothing since then re-runs everything (Store.commits_after).
_PRUNE_LOG = (
    "DELETE FROM commit_log WHERE ts <= $1",
    "UPDATE meta SET log_floor = greatest(log_floor, $1)",
)
_VACUUM = (
    "DELETE FROM documents o WHERE ts < $1 AND EXISTS (SELECT 1 FROM documents n"
    " WHERE n.id = o.id AND n.ts > o.ts AND n.ts <= $1)",
    "DELETE FROM documents WHERE deleted AND ts <= $1",
    "DELETE FROM index_entries o WHERE ts < $1 AND EXISTS (SELECT 1 FROM index_entries n"
    " WHERE n.idx = o.idx AND n.key = o.key AND n.ts > o.ts AND n.ts <= $1)",
    "DELETE FROM index_entries WHERE deleted AND ts <= $1",
    "DELETE FROM search_entries o WHERE ts < $1 AND EXISTS (SELECT 1 FROM search_entries n"
    " WHERE n.idx = o.idx AND n.doc_id = o.doc_id AND n.ts > o.ts AND n.ts <= $1)",
    "DELETE FROM search_entries WHERE deleted AND ts <= $1",
)


@translate
async def vacuum(conn: asyncpg.Connection, ts: int) -> int:
    """Delete the history no snapshot at `ts` or later can see (the rule of
    `server.store.sqlite_ops.vacuum`), in the caller's transaction. Returns
    the number of rows deleted."""
    deleted = 0
    for sql in _VACUUM:
        deleted += _row_count(await conn.execute(sql, ts))
    for sql in _PRUNE_LOG:
        await conn.execute(sql, ts)
    return deleted


def _row_count(status: str) -> int:
    # asyncpg returns the command tag, e.g. "DELETE 3".
    return int(status.rsplit(" ", 1)[-1])
