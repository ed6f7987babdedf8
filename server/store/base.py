"""The storage interface the sync layer depends on.

Theory of operation. Every committed document version is kept with its commit
timestamp (u64 nanoseconds), and so is every index entry, so a reader can see
the database exactly as it was at any timestamp it is handed (MVCC). A reader
never sees a half-applied commit: `latest_ts` only moves after a commit is
durable. Writes go through one writer at a time; each write transaction gets a
timestamp larger than every earlier one, across restarts too.

Index keys are order-preserving byte strings (see `server.store.keys`): the
encoded indexed field values followed by the encoded document id, so a range
of an index is a half-open byte interval `[start, end)` and comparing keys is
comparing bytes, the same in Python, SQLite and PostgreSQL.

Every table has two system indexes besides those of the schema:
`<table>.by_id` (key: the id alone) and `<table>.by_creation_time`
(key: `_creationTime`, then the id). A full table scan is a scan of the whole
`by_creation_time` range.

Backends: `server.store.sqlite.SqliteStore` (aiosqlite, WAL, one writer) and
`server.store.postgres.PostgresStore` (asyncpg, writers serialized across
processes by an advisory lock). The sync layer only sees the classes below.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, TypeVar

__all__ = [
    "Commit",
    "Document",
    "IndexDef",
    "IndexKeyChange",
    "LegacyNumbers",
    "Order",
    "SearchIndexDef",
    "SearchRequest",
    "Snapshot",
    "Store",
    "StoredResult",
    "Transaction",
    "Write",
]

Document = dict[str, Any]

LegacyNumbers = Callable[[str, Mapping[str, Any]], Mapping[str, Any]]
"""`(table, document) -> document` with the int64s a store written before
plain ints became float64 holds turned into float64s where the app's schema
allows (`server.functions.legacy_numbers`)."""
"""A document: Convex values (see protocol.values) plus `_id` (str) and
`_creationTime` (float, ms since the epoch)."""

Order = Literal["asc", "desc"]

StoredResult = tuple[int, str, str | None]
"""`(commit_ts, result_json, fingerprint)` of a committed mutation; the
fingerprint is None in rows from before there was one."""
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class IndexDef:
    """One index of one table: `name` is the qualified "table.index"."""

    table: str
    name: str
    fields: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class SearchIndexDef:
    """A full-text search index of one table: `name` is the qualified
    "table.index"; documents whose `search_field` holds a string are in it,
    with the values of `filter_fields` for equality filters."""

    table: str
    name: str
    search_field: str
    filter_fields: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class SearchRequest:
    """What `Snapshot.search` looks for in a search index: documents with a
    term equal to one of `exact` or starting with `prefix`, whose filter
    values at the given positions of `filter_fields` have the given
    encodings (`keys.encode_value`), at most `limit` of them."""

    index: str
    exact: tuple[str, ...]
    prefix: str
    filters: tuple[tuple[int, bytes], ...]
    limit: int


@dataclass(frozen=True, slots=True)
class IndexKeyChange:
    """One index key a commit touched: the old key removed or the new one added."""

    index: str
    key: bytes


@dataclass(frozen=True, slots=True)
class Write:
    """One document changed by a commit. `old` is None for an insert, `new` is
    None for a delete."""

    table: str
    id: str
    old: Document | None
    new: Document | None


@dataclass(frozen=True, slots=True)
class Commit:
    """What a committed write transaction changed, handed to the sync layer so
    it can invalidate exactly the subscriptions that read one of `keys`."""

    ts: int
    writes: tuple[Write, ...]
    keys: tuple[IndexKeyChange, ...] = field(default=())
    # The newest commit when this one was made: on a database that several
    # nodes share, the commits between the last one a node published and
    # this are other nodes', to publish first (see Store.commits_after).
    previous_ts: int = 0


class Snapshot(Protocol):
    """A read-only view of the database at one timestamp."""

    @property
    def ts(self) -> int: ...

    async def get(self, id: str) -> Document | None:
        """The document's version at `ts`, or None (absent or deleted)."""

    def scan(
        self, index: str, start: bytes, end: bytes | None, order: Order = "asc"
    ) -> AsyncIterator[tuple[bytes, Document]]:
        """Yield `(key, document)` for the live entries of `index` with
        `start <= key < end` (`end=None`: unbounded) as of `ts`, in key order
        (or reverse key order for "desc"). Fetches lazily in pages, so a
        caller that stops early does not pay for the rest."""

    async def search(self, request: SearchRequest) -> Sequence[Document]:
        """The documents live at `ts` in the search index `request.index`
        that match `request` (see `server.store.search_text` for what
        matches), most recently written first, at most `request.limit`."""


class Transaction(Snapshot, Protocol):
    """A write transaction: reads see the database at the latest commit plus
    this transaction's own writes. Its writes get timestamp `ts`."""

    async def insert(
        self,
        table: str,
        value: Mapping[str, Any],
        *,
        system: bool = False,
        id: str | None = None,
        creation_time: float | None = None,
    ) -> str:
        """Insert a document (without system fields); returns the new `_id`.
        System tables (`catalog.SYSTEM_TABLES`) are written only with
        `system`, by the server's own code; so for the other three. `id`
        (system inserts only) is an id made beforehand with `ids.new_id`, or
        kept from an export; `creation_time` (system inserts only, ms) keeps
        an exported document's `_creationTime` instead of this commit's.
        The first insert into an app table also lists the table in the
        `catalog.TABLES` system table, in this same transaction."""

    async def replace(self, id: str, value: Mapping[str, Any], *, system: bool = False) -> None:
        """Replace every user field of the document; system fields are kept."""

    async def patch(self, id: str, fields: Mapping[str, Any], *, system: bool = False) -> None:
        """Shallow-merge `fields` into the document's user fields (system
        fields cannot be patched; a field set to `keys.MISSING_FIELD` is
        removed, as `undefined` does in Convex)."""

    async def delete(self, id: str, *, system: bool = False) -> None:
        """Delete the document."""

    async def record_mutation_result(
        self, session_id: str, request_id: int, result_json: str, fingerprint: str | None = None
    ) -> None:
        """Store a mutation's encoded result in this same transaction, for
        deduplicating a client's retry of (session_id, request_id), with the
        `fingerprint` of the call it answers."""


class Store(Protocol):
    """A storage backend. Open before use, close when done."""

    @property
    def latest_ts(self) -> int:
        """The timestamp of the newest durable commit (0 for an empty store)."""

    async def open(
        self,
        indexes: Sequence[IndexDef | SearchIndexDef],
        legacy_numbers: LegacyNumbers | None = None,
    ) -> None:
        """Create or migrate the schema, backfill indexes (search indexes too) that are new since
        the last start, convert numbers stored in an older format with
        `legacy_numbers`, load `latest_ts`, and fill the catalog of table
        names (`catalog.TABLES`) of a database written before it existed."""

    async def close(self) -> None: ...

    async def change_indexes(self, indexes: Sequence[IndexDef | SearchIndexDef]) -> None:
        """Make `indexes` the ones in force on an open store (a reloaded
        schema.py): between two commits, drop the entries of those gone and
        backfill the new ones, as `open` does."""

    async def newest_ts(self) -> int:
        """The newest commit in the database now, by any process (a store
        opened read-only does not move `latest_ts` to it)."""

    async def tables(self, ts: int) -> list[str]:
        """The names of the tables with a document version at or before
        `ts`, sorted (one whose documents were all deleted may be among them)."""

    def snapshot(self, ts: int | None = None) -> Snapshot:
        """A view at `ts` (default: `latest_ts`). `ts` must not exceed
        `latest_ts`."""

    async def write(self, fn: Callable[[Transaction], Awaitable[T]]) -> tuple[T, Commit]:
        """Run `fn` in one write transaction, after every earlier write.
        If `fn` returns, the transaction commits and its result comes back
        with the `Commit` record (an empty `writes` is fine); if `fn` raises,
        nothing is written and the exception propagates unchanged."""

    @property
    def exclusive(self) -> bool:
        """Whether this process is the database's only writer (SQLite); a
        shared database (PostgreSQL) may have other nodes committing."""

    @property
    def problem(self) -> str | None:
        """Why the database looks unreachable right now, or None."""

    def watch_commits(self, changed: Callable[[], None]) -> None:
        """Have `changed` called whenever other processes may have committed
        (see `commits_after`); a store only one process may open never calls it."""

    async def commits_after(self, ts: int) -> Sequence[Commit] | None:
        """The commits after `ts` that other processes made on a shared
        database, oldest first, with their keys but not their writes, up to
        the first one this store made (its own writer publishes that one);
        None when they are no longer all known (the caller must then assume
        that every read changed). A store only one process may open returns ()."""

    async def vacuum_before(self, ts: int) -> int:
        """Delete document versions and index entries that no snapshot at
        `ts` or later can see; returns how many rows went."""

    async def get_mutation_results(
        self, keys: Sequence[tuple[str, int]]
    ) -> dict[tuple[str, int], StoredResult]:
        """The stored results of earlier successful mutations among `keys`
        (`(session_id, request_id)`), in one read; keys without one are absent."""

    async def get_mutation_result(self, session_id: str, request_id: int) -> StoredResult | None:
        """`get_mutation_results` for one key."""

    async def prune_mutation_results(self, before_ts: int) -> int:
        """Delete the results of mutations committed before `before_ts`;
        returns how many went."""
