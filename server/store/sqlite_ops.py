"""The SQL of the SQLite store, as plain functions of a `sqlite3.Connection`.

`server.store.sqlite` runs each of these on an aiosqlite connection's own
thread, so one call is one thread hop however many statements it issues.
They are synchronous on purpose: they can be tested with a bare
`sqlite3.connect(":memory:")`, and a commit cannot be interleaved with
anything else on the same connection.

Tables (multi-version: rows are only ever added, except by vacuum):

    documents(id, ts, tbl, value, deleted)        one row per document version;
                                                  deleted=1 marks a deletion
    index_entries(idx, key, ts, doc_id, deleted)  one row per index key change;
                                                  deleted=1 is a tombstone
    meta(name, value)                             latest_ts, indexes,
                                                  value_format, tables_catalogued
    mutation_results(session_id, request_id, ts, result, fingerprint)
                                                  fingerprint: of the call (path,
                                                  args, caller); NULL in rows an
                                                  older livesync wrote
    search_entries(rowid, idx, doc_id, ts, deleted, filters, terms)
                                                  one row per change of what a
                                                  search index holds of a
                                                  document (search_index.py)
    search_terms                                  FTS5, contentless: the terms
                                                  of each search_entries row,
                                                  kept in step by triggers

The value at snapshot `T` of a document (or of an index key) is its newest row
with `ts <= T`, unless that row is a deletion. The connections run in
autocommit mode; write transactions are opened explicitly with
`BEGIN IMMEDIATE`, which takes the write lock up front so a commit never fails
half way with SQLITE_BUSY.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Literal

from server.errors import StoreError
from server.store.base import SearchRequest, StoredResult
from server.store.catalog import VALUE_FORMAT, IndexCatalog, dump_document, load_document
from server.store.search_index import SearchRow, entry_for, fts5_query

__all__ = [
    "DocRow",
    "IndexRow",
    "PageRow",
    "ResultRow",
    "SYNCHRONOUS_MODES",
    "commit",
    "configure",
    "create_schema",
    "get_document",
    "get_mutation_results",
    "load_meta",
    "mark_tables_catalogued",
    "migrate_indexes",
    "prune_mutation_results",
    "upgrade_numbers",
    "read_page",
    "rollback",
    "search",
    "tables",
    "tables_catalogued",
    "vacuum",
]

DocRow = tuple[str, int, str, str | None, int]
"""(id, ts, tbl, value, deleted)"""
IndexRow = tuple[str, bytes, int, str, int]
"""(idx, key, ts, doc_id, deleted)"""
ResultRow = tuple[str, int, int, str, str | None]
"""(session_id, request_id, ts, result, fingerprint)"""
PageRow = tuple[bytes, int, str | None]
"""(key, deleted, document value at the snapshot)"""

_SCHEMA = """
CREATE TABLE IF NOT EXISTS documents (
    id TEXT NOT NULL, ts INTEGER NOT NULL, tbl TEXT NOT NULL,
    value TEXT, deleted INTEGER NOT NULL,
    PRIMARY KEY (id, ts)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS index_entries (
    idx TEXT NOT NULL, key BLOB NOT NULL, ts INTEGER NOT NULL,
    doc_id TEXT NOT NULL, deleted INTEGER NOT NULL,
    PRIMARY KEY (idx, key, ts)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS mutation_results (
    session_id TEXT NOT NULL, request_id INTEGER NOT NULL,
    ts INTEGER NOT NULL, result TEXT NOT NULL, fingerprint TEXT,
    PRIMARY KEY (session_id, request_id)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS search_entries (
    rowid INTEGER PRIMARY KEY, idx TEXT NOT NULL, doc_id TEXT NOT NULL,
    ts INTEGER NOT NULL, deleted INTEGER NOT NULL, filters TEXT NOT NULL, terms TEXT NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS search_versions ON search_entries (idx, doc_id, ts);
-- The terms are tokenized already (search_text.py), so the tokenizer only
-- splits on spaces; remove_diacritics 0 keeps "cafe" from finding "café".
CREATE VIRTUAL TABLE IF NOT EXISTS search_terms USING fts5(
    terms, content='', tokenize='unicode61 remove_diacritics 0'
);
CREATE TRIGGER IF NOT EXISTS search_entries_added AFTER INSERT ON search_entries BEGIN
    INSERT INTO search_terms (rowid, terms) VALUES (new.rowid, new.terms);
END;
CREATE TRIGGER IF NOT EXISTS search_entries_removed AFTER DELETE ON search_entries BEGIN
    INSERT INTO search_terms (search_terms, rowid, terms) VALUES ('delete', old.rowid, old.terms);
END;
"""

SYNCHRONOUS_MODES = ("OFF", "NORMAL", "FULL", "EXTRA")
_BUSY_TIMEOUT_MS = 5000

_GET_DOCUMENT = (
    "SELECT tbl, value, deleted FROM documents WHERE id = ? AND ts <= ? ORDER BY ts DESC LIMIT 1"
)
_INSERT_DOCUMENT = "INSERT OR REPLACE INTO documents VALUES (?, ?, ?, ?, ?)"
_INSERT_ENTRY = "INSERT OR REPLACE INTO index_entries VALUES (?, ?, ?, ?, ?)"
_INSERT_RESULT = (
    "INSERT OR REPLACE INTO mutation_results"
    " (session_id, request_id, ts, result, fingerprint) VALUES (?, ?, ?, ?, ?)"
)
_SET_META = "INSERT OR REPLACE INTO meta VALUES (?, ?)"
_INSERT_SEARCH = (
    "INSERT INTO search_entries (idx, doc_id, ts, deleted, filters, terms)"
    " VALUES (?, ?, ?, ?, ?, ?)"
)


def _page_sql(order: Literal["asc", "desc"], bounded: bool) -> str:
    # The inner query keeps, per key, the newest entry at or before the
    # snapshot (SQLite takes bare columns from the MAX(ts) row) and streams
    # straight off the primary key in either direction; the outer one reads
    # each live entry's document version at the snapshot.
    direction = "ASC" if order == "asc" else "DESC"
    upper = "AND key < :hi" if bounded else ""
    return f"""
SELECT g.key, g.deleted, CASE WHEN g.deleted THEN NULL ELSE (
    SELECT d.value FROM documents d
    WHERE d.id = g.doc_id AND d.ts <= :ts ORDER BY d.ts DESC LIMIT 1
) END
FROM (
    SELECT key, doc_id, deleted, MAX(ts) FROM index_entries
    WHERE idx = :idx AND key >= :lo {upper} AND ts <= :ts
    GROUP BY key ORDER BY key {direction} LIMIT :limit
) g
ORDER BY g.key {direction}"""


_PAGE_SQL = {
    (order, bounded): _page_sql(order, bounded)
    for order in ("asc", "desc")
    for bounded in (True, False)
}


def configure(conn: sqlite3.Connection, synchronous: str, writer: bool) -> None:
    """Set the pragmas every connection of the store needs."""
    if synchronous.upper() not in SYNCHRONOUS_MODES:
        raise ValueError(f"synchronous must be one of {', '.join(SYNCHRONOUS_MODES)}")
    conn.execute(f"PRAGMA busy_timeout = {_BUSY_TIMEOUT_MS}")
    if writer:
        # WAL lets readers run while the writer commits; it persists in the file.
        conn.execute("PRAGMA journal_mode = WAL")
    conn.execute(f"PRAGMA synchronous = {synchronous.upper()}")
    if not writer:
        conn.execute("PRAGMA query_only = ON")


def create_schema(conn: sqlite3.Connection) -> None:
    conn.executescript(_SCHEMA)
    columns = {row[1] for row in conn.execute("PRAGMA table_info(mutation_results)")}
    if "fingerprint" not in columns:
        # A file from before results were bound to their call: its rows keep
        # a NULL fingerprint, which the committer never hands out.
        conn.execute("ALTER TABLE mutation_results ADD COLUMN fingerprint TEXT")


def load_meta(conn: sqlite3.Connection) -> tuple[int, str | None, int]:
    """`(latest_ts, indexes JSON, value format)` as stored by the last commit
    and start; a file from before `value_format` existed is format 1."""
    meta = dict(conn.execute("SELECT name, value FROM meta").fetchall())
    return int(meta.get("latest_ts", 0)), meta.get("indexes"), int(meta.get("value_format", 1))


def tables_catalogued(conn: sqlite3.Connection) -> bool:
    """Whether the catalog of table names was filled (see
    `core.fill_table_catalog`)."""
    row = conn.execute("SELECT value FROM meta WHERE name = 'tables_catalogued'").fetchone()
    return row is not None


def mark_tables_catalogued(conn: sqlite3.Connection) -> None:
    conn.execute(_SET_META, ("tables_catalogued", 1))


def upgrade_numbers(
    conn: sqlite3.Connection,
    catalog: IndexCatalog,
    convert: Callable[[str, Mapping[str, Any]], Mapping[str, Any]] | None,
) -> int:
    """Rewrite every stored document version whose int64s `convert` turns
    into float64s, and move its index entries to the new keys, in one
    transaction; then record `VALUE_FORMAT`. Returns the versions rewritten.

    Raises:
        StoreError: there is something to convert but no `convert`.
    """
    conn.execute("BEGIN IMMEDIATE")
    try:
        rewritten = 0
        rows = conn.execute(
            "SELECT id, ts, tbl, value FROM documents"
            " WHERE deleted = 0 AND instr(value, '\"$integer\"') > 0"
        ).fetchall()
        if rows and convert is None:
            raise StoreError(
                "This database holds numbers in the format of an older livesync; "
                "open it with `livesync serve` once to convert them"
            )
        for doc_id, ts, table, value in rows:
            assert convert is not None
            old = load_document(value)
            new_value = dump_document(dict(convert(table, old)))
            if new_value == value:
                continue
            conn.execute(
                "UPDATE documents SET value = ? WHERE id = ? AND ts = ?", (new_value, doc_id, ts)
            )
            new = load_document(new_value)
            for (index, old_key), (_, new_key) in zip(
                catalog.keys(table, old), catalog.keys(table, new), strict=True
            ):
                if old_key != new_key:
                    # The entry (or tombstone) a version wrote under its old key.
                    conn.execute(
                        "UPDATE index_entries SET key = ? WHERE idx = ? AND key = ? AND doc_id = ?",
                        (new_key, index, old_key, doc_id),
                    )
            rewritten += 1
        conn.execute(_SET_META, ("value_format", VALUE_FORMAT))
        conn.execute("COMMIT")
    except BaseException:
        rollback(conn)
        raise
    return rewritten


def get_document(conn: sqlite3.Connection, doc_id: str, ts: int) -> tuple[str, str] | None:
    """`(table, value)` of the document's version at `ts`, or None."""
    row = conn.execute(_GET_DOCUMENT, (doc_id, ts)).fetchone()
    if row is None or row[2]:
        return None
    return row[0], row[1]


def tables(conn: sqlite3.Connection, ts: int) -> list[str]:
    """The tables with a document version at or before `ts`, sorted."""
    rows = conn.execute("SELECT DISTINCT tbl FROM documents WHERE ts <= ? ORDER BY tbl", (ts,))
    return [row[0] for row in rows]


def read_page(
    conn: sqlite3.Connection,
    idx: str,
    lo: bytes,
    hi: bytes | None,
    ts: int,
    order: Literal["asc", "desc"],
    limit: int,
) -> list[PageRow]:
    """Up to `limit` keys of `idx` in `[lo, hi)` as of `ts`, tombstones included
    (so a short page means the range is exhausted)."""
    params = {"idx": idx, "lo": lo, "hi": hi, "ts": ts, "limit": limit}
    return conn.execute(_PAGE_SQL[(order, hi is not None)], params).fetchall()


def search(conn: sqlite3.Connection, request: SearchRequest, ts: int) -> list[str]:
    """The values at `ts` of the documents matching `request`, most recently
    written first (see `Snapshot.search`)."""
    # The engine finds the rows holding a term; of those, a row counts only
    # if it is its document's newest at `ts` (later rows supersede it).
    filters = "".join(
        f" AND json_extract(s.filters, '$[{position}]') = :f{position}"
        for position, _ in request.filters
    )
    sql = f"""
SELECT (SELECT d.value FROM documents d
        WHERE d.id = s.doc_id AND d.ts <= :ts ORDER BY d.ts DESC LIMIT 1)
FROM search_entries s
WHERE s.rowid IN (SELECT rowid FROM search_terms WHERE search_terms MATCH :match)
    AND s.idx = :idx AND s.ts <= :ts AND s.deleted = 0{filters}
    AND NOT EXISTS (SELECT 1 FROM search_entries n
                    WHERE n.idx = s.idx AND n.doc_id = s.doc_id AND n.ts > s.ts AND n.ts <= :ts)
ORDER BY s.ts DESC, s.doc_id DESC LIMIT :limit"""
    params: dict[str, Any] = {
        "ts": ts,
        "match": fts5_query(request),
        "idx": request.index,
        "limit": request.limit,
    }
    for position, encoded in request.filters:
        params[f"f{position}"] = encoded.hex()
    return [row[0] for row in conn.execute(sql, params)]


def get_mutation_results(
    conn: sqlite3.Connection, keys: Sequence[tuple[str, int]], max_ts: int
) -> dict[tuple[str, int], StoredResult]:
    found = {}
    for session_id, request_id in keys:  # one thread hop for all: no round trips to save
        row = conn.execute(
            "SELECT ts, result, fingerprint FROM mutation_results"
            " WHERE session_id = ? AND request_id = ? AND ts <= ?",
            (session_id, request_id, max_ts),
        ).fetchone()
        if row is not None:
            found[(session_id, request_id)] = (row[0], row[1], row[2])
    return found


def commit(
    conn: sqlite3.Connection,
    doc_rows: Sequence[DocRow],
    index_rows: Sequence[IndexRow],
    result_rows: Sequence[ResultRow],
    ts: int,
    search_rows: Sequence[SearchRow] = (),
) -> None:
    """In one transaction, write the rows and `latest_ts = ts`, then COMMIT;
    on any failure roll back and re-raise."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        if doc_rows:
            conn.executemany(_INSERT_DOCUMENT, doc_rows)
        if index_rows:
            conn.executemany(_INSERT_ENTRY, index_rows)
        if search_rows:
            conn.executemany(
                _INSERT_SEARCH,
                [(idx, id, ts, int(deleted), f, t) for idx, id, deleted, f, t in search_rows],
            )
        if result_rows:
            conn.executemany(_INSERT_RESULT, result_rows)
        conn.execute(_SET_META, ("latest_ts", ts))
        conn.execute("COMMIT")
    except BaseException:
        rollback(conn)
        raise


def rollback(conn: sqlite3.Connection) -> None:
    if conn.in_transaction:
        conn.execute("ROLLBACK")


def migrate_indexes(
    conn: sqlite3.Connection, old: IndexCatalog, new: IndexCatalog
) -> tuple[list[str], list[str]]:
    """Drop the entries of indexes no longer defined (or redefined) and
    backfill the new ones from each live document's latest version, in one
    transaction. Returns `(added, removed)` index names."""
    added, removed = new.changes_from(old)
    conn.execute("BEGIN IMMEDIATE")
    try:
        conn.executemany("DELETE FROM index_entries WHERE idx = ?", [(n,) for n in removed])
        for index in added:
            conn.executemany(_INSERT_ENTRY, _backfill_rows(conn, new, index.table, index.name))
        added_search, removed_search = new.search_changes_from(old)
        conn.executemany("DELETE FROM search_entries WHERE idx = ?", [(n,) for n in removed_search])
        for search_index in added_search:
            rows = []
            for doc_id, ts, value in _latest_versions(conn, search_index.table):
                entry = entry_for(search_index, load_document(value))
                if entry is not None:
                    rows.append((search_index.name, doc_id, ts, 0, entry.filters, entry.terms))
            conn.executemany(_INSERT_SEARCH, rows)
        conn.execute(_SET_META, ("indexes", new.to_json()))
        conn.execute("COMMIT")
    except BaseException:
        rollback(conn)
        raise
    return [d.name for d in added] + [d.name for d in added_search], removed + removed_search


def _latest_versions(conn: sqlite3.Connection, table: str) -> list[tuple[str, int, str]]:
    """`(id, ts, value)` of the latest version of each live document of `table`."""
    return conn.execute(
        "SELECT d.id, d.ts, d.value FROM documents d WHERE d.tbl = ? AND d.deleted = 0"
        " AND d.ts = (SELECT MAX(m.ts) FROM documents m WHERE m.id = d.id)",
        (table,),
    ).fetchall()


def _backfill_rows(
    conn: sqlite3.Connection, catalog: IndexCatalog, table: str, index: str
) -> Iterable[IndexRow]:
    # Entries carry the version's own ts, so snapshots from then on see them.
    for doc_id, ts, value in _latest_versions(conn, table):
        keys = dict(catalog.keys(table, load_document(value)))
        key = keys[index]
        assert key is not None
        yield index, key, ts, doc_id, 0


def prune_mutation_results(conn: sqlite3.Connection, before_ts: int) -> int:
    """Delete the stored mutation results committed before `before_ts` (a
    full scan: the table only holds one dedup window of results). Returns
    how many went."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        deleted = conn.execute("DELETE FROM mutation_results WHERE ts < ?", (before_ts,)).rowcount
        conn.execute("COMMIT")
    except BaseException:
        rollback(conn)
        raise
    return deleted


def vacuum(conn: sqlite3.Connection, ts: int) -> int:
    """Delete the history no snapshot at `ts` or later can see: every version
    superseded by a newer one at or before `ts`, and then deletions and
    tombstones at or before `ts` (nothing older remains for them to hide).
    Returns the number of rows deleted."""
    statements = (
        "DELETE FROM documents WHERE ts < :ts AND EXISTS (SELECT 1 FROM documents n"
        " WHERE n.id = documents.id AND n.ts > documents.ts AND n.ts <= :ts)",
        "DELETE FROM documents WHERE deleted = 1 AND ts <= :ts",
        "DELETE FROM index_entries WHERE ts < :ts AND EXISTS (SELECT 1 FROM index_entries n"
        " WHERE n.idx = index_entries.idx AND n.key = index_entries.key"
        " AND n.ts > index_entries.ts AND n.ts <= :ts)",
        "DELETE FROM index_entries WHERE deleted = 1 AND ts <= :ts",
        "DELETE FROM search_entries WHERE ts < :ts AND EXISTS (SELECT 1 FROM search_entries n"
        " WHERE n.idx = search_entries.idx AND n.doc_id = search_entries.doc_id"
        " AND n.ts > search_entries.ts AND n.ts <= :ts)",
        "DELETE FROM search_entries WHERE deleted = 1 AND ts <= :ts",
    )
    conn.execute("BEGIN IMMEDIATE")
    try:
        deleted = sum(conn.execute(sql, {"ts": ts}).rowcount for sql in statements)
        conn.execute("COMMIT")
    except BaseException:
        rollback(conn)
        raise
    return deleted
