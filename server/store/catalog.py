"""The indexes in force and the rules for documents, shared by every backend.

Every table has two system indexes besides the schema's: `<table>.by_id`
(key: the id alone) and `<table>.by_creation_time` (key: `_creationTime`,
then the id). Tables need not be declared, so system indexes exist for any
valid table name; schema indexes are the `IndexDef`s handed to `open`.

System tables (`SYSTEM_TABLES`: the scheduler's jobs, the cron jobs, the
catalog of table names, ...) hold the server's own documents: they have
indexes of their own, always in force, and only the server writes them (see
`Transaction.insert`).

Documents are stored as Convex-encoded JSON text (protocol.values), so int64
and bytes survive the round trip.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from typing import Any

from protocol.errors import ValueDecodeError, ValueEncodeError
from protocol.values import decode, dumps, encode
from server.errors import ConfigError, SchemaError, StoreError
from server.store.base import Document, IndexDef, SearchIndexDef
from server.store.keys import MISSING_FIELD, doc_field_values, index_key

__all__ = [
    "BY_CREATION_TIME",
    "BY_ID",
    "CRON_JOBS",
    "FUNCTION_LOGS",
    "NODES",
    "SCHEDULED_FUNCTIONS",
    "STORAGE",
    "STORAGE_UPLOADS",
    "SYSTEM_TABLES",
    "TABLES",
    "TABLES_BY_NAME",
    "TRANSIENT_TABLES",
    "VALUE_FORMAT",
    "IndexCatalog",
    "check_table_name",
    "dump_document",
    "load_document",
    "merge_patch",
    "present_fields",
    "replace_fields",
    "user_fields",
]

VALUE_FORMAT = 2
"""How stored values encode numbers. 1: a Python int was stored as int64.
2: a plain int is a float64, `Int64` an int64
(`server.functions.legacy_numbers`). A SQLite file from before it was
recorded is format 1; a PostgreSQL database starts at 2: no livesync ever
wrote the older format there."""

BY_ID = "by_id"
BY_CREATION_TIME = "by_creation_time"
_SYSTEM_INDEXES: dict[str, tuple[str, ...]] = {BY_ID: (), BY_CREATION_TIME: ("_creationTime",)}
_TABLE_RE = re.compile(r"[A-Za-z][A-Za-z0-9_]*")

SCHEDULED_FUNCTIONS = "_scheduled_functions"
CRON_JOBS = "_cron_jobs"
STORAGE = "_storage"  # stored files' metadata
STORAGE_UPLOADS = "_storage_uploads"  # upload URLs not used yet
NODES = "_nodes"  # the server processes serving the deployment now
FUNCTION_LOGS = "_function_logs"  # the latest function calls (the dashboard's Logs)
# One document {name} per app table that ever held a document, written with
# its first insert (`server.store.buffer`), so reading the table list is a
# read like any other.
TABLES = "_tables"
TABLES_BY_NAME = f"{TABLES}.by_name"
SYSTEM_TABLES = frozenset(
    {SCHEDULED_FUNCTIONS, CRON_JOBS, STORAGE, STORAGE_UPLOADS, NODES, FUNCTION_LOGS, TABLES}
)
# System tables an export leaves out: those about running processes, not
# the app's data (upload URLs name the old server; nodes are its processes;
# function logs are its recent work), and the table catalog, which the
# import's own inserts rebuild.
TRANSIENT_TABLES = frozenset({STORAGE_UPLOADS, NODES, FUNCTION_LOGS, TABLES})
# Pending jobs by due time (the scheduler's scan), the cron jobs and the
# catalogued tables by name.
_SYSTEM_TABLE_INDEXES = (
    IndexDef(
        SCHEDULED_FUNCTIONS, f"{SCHEDULED_FUNCTIONS}.by_state", ("state.kind", "scheduledTime")
    ),
    IndexDef(CRON_JOBS, f"{CRON_JOBS}.by_name", ("name",)),
    IndexDef(TABLES, TABLES_BY_NAME, ("name",)),
)


def _is_table(table: object) -> bool:
    return isinstance(table, str) and (
        _TABLE_RE.fullmatch(table) is not None or table in SYSTEM_TABLES
    )


def check_table_name(table: str, *, system: bool = False) -> None:
    """Raise `SchemaError` unless `table` is a legal user table name (or,
    with `system`, a system table)."""
    if system and table in SYSTEM_TABLES:
        return
    if table in SYSTEM_TABLES:
        raise SchemaError(f"{table} is a system table: only the server writes it")
    if not isinstance(table, str) or _TABLE_RE.fullmatch(table) is None:
        raise SchemaError(
            f"Invalid table name {table!r}: use a letter, then letters, digits or underscores"
        )


class IndexCatalog:
    """The schema's indexes plus the system ones, and each document's keys."""

    __slots__ = ("_by_table", "_defs", "_fields", "_search", "_search_by_table")

    def __init__(self, defs: Iterable[IndexDef | SearchIndexDef] = ()) -> None:
        everything = sorted(defs, key=lambda d: d.name)
        self._defs = tuple(d for d in everything if isinstance(d, IndexDef))
        self._search = {d.name: d for d in everything if isinstance(d, SearchIndexDef)}
        self._fields: dict[str, tuple[str, ...]] = {}
        self._by_table: dict[str, list[tuple[str, tuple[str, ...]]]] = {}
        self._search_by_table: dict[str, list[SearchIndexDef]] = {}
        for index in self._defs:
            _check_def(index.table, index.name, index.fields)
        for search in self._search.values():
            _check_def(search.table, search.name, (search.search_field,))
            if search.name in {d.name for d in self._defs}:
                raise ConfigError(f"Index {search.name} is defined twice")
            self._search_by_table.setdefault(search.table, []).append(search)
        for index in (*self._defs, *_SYSTEM_TABLE_INDEXES):
            if index.name in self._fields:
                raise ConfigError(f"Index {index.name} is defined twice")
            self._fields[index.name] = tuple(index.fields)
            self._by_table.setdefault(index.table, []).append((index.name, tuple(index.fields)))

    @property
    def defs(self) -> tuple[IndexDef, ...]:
        """The schema indexes, sorted by name (the system tables' are always
        in force, so never migrated)."""
        return self._defs

    @property
    def search_defs(self) -> tuple[SearchIndexDef, ...]:
        """The search indexes, sorted by name."""
        return tuple(self._search.values())

    def search_index(self, name: str) -> SearchIndexDef:
        """The search index `name` ("table.index").

        Raises:
            SchemaError: no such search index.
        """
        found = self._search.get(name)
        if found is None:
            raise SchemaError(f"Search index {name} not found")
        return found

    def search_indexes_of(self, table: str) -> list[SearchIndexDef]:
        return self._search_by_table.get(table, [])

    def fields(self, index: str) -> tuple[str, ...]:
        """The indexed field paths of `index` (schema or system).

        Raises:
            SchemaError: no such index.
        """
        found = self._fields.get(index)
        if found is not None:
            return found
        table, _, short = index.partition(".")
        if short in _SYSTEM_INDEXES and _is_table(table):
            return _SYSTEM_INDEXES[short]
        raise SchemaError(f"Index {index} not found")

    def indexes_of(self, table: str) -> list[tuple[str, tuple[str, ...]]]:
        """`(index name, fields)` of every index of `table`, system ones first."""
        system = [(f"{table}.{short}", fields) for short, fields in _SYSTEM_INDEXES.items()]
        return system + self._by_table.get(table, [])

    def keys(self, table: str, doc: Document | None) -> list[tuple[str, bytes | None]]:
        """`(index name, key)` of `doc` in every index of `table` (key None when
        there is no document)."""
        if doc is None:
            return [(name, None) for name, _ in self.indexes_of(table)]
        doc_id = doc["_id"]
        return [
            (name, index_key(doc_field_values(doc, fields), doc_id))
            for name, fields in self.indexes_of(table)
        ]

    def changes_from(self, old: IndexCatalog) -> tuple[list[IndexDef], list[str]]:
        """`(added, removed)`: the indexes `old` lacks, sorted by name, and the
        names of those of `old` this catalog lacks (or defines otherwise), sorted."""
        old_defs, new_defs = set(old.defs), set(self._defs)
        removed = sorted(d.name for d in old_defs - new_defs)
        added = sorted(new_defs - old_defs, key=lambda d: d.name)
        return added, removed

    def search_changes_from(self, old: IndexCatalog) -> tuple[list[SearchIndexDef], list[str]]:
        """`changes_from` for the search indexes."""
        old_defs, new_defs = set(old.search_defs), set(self.search_defs)
        removed = sorted(d.name for d in old_defs - new_defs)
        added = sorted(new_defs - old_defs, key=lambda d: d.name)
        return added, removed

    def to_json(self) -> str:
        """The schema indexes as stable JSON text, to detect changes across
        starts: `[table, name, fields]`, and `[table, name, [search field,
        *filter fields], "search"]` for a search index."""
        rows: list[list[Any]] = [[d.table, d.name, list(d.fields)] for d in self._defs]
        rows += [
            [d.table, d.name, [d.search_field, *d.filter_fields], "search"]
            for d in self._search.values()
        ]
        return json.dumps(rows)

    @classmethod
    def from_json(cls, text: str | None) -> IndexCatalog:
        if not text:
            return cls()
        defs: list[IndexDef | SearchIndexDef] = []
        for table, name, fields, *kind in json.loads(text):
            if kind == ["search"]:
                defs.append(SearchIndexDef(table, name, fields[0], tuple(fields[1:])))
            else:
                defs.append(IndexDef(table, name, tuple(fields)))
        return cls(defs)


def _check_def(table_name: str, name: str, fields: tuple[str, ...]) -> None:
    check_table_name(table_name)
    table, dot, short = name.partition(".")
    if table != table_name or not dot or not _TABLE_RE.fullmatch(short):
        raise ConfigError(f"Index name {name!r} must be '{table_name}.<index name>'")
    if short in _SYSTEM_INDEXES:
        raise ConfigError(f"Index name {name!r} is reserved for a system index")
    if not fields:
        raise ConfigError(f"Index {name} has no fields")


def user_fields(value: Mapping[str, Any]) -> dict[str, Any]:
    """The user fields of a value to insert, refusing system fields.

    Raises:
        SchemaError: not an object, or a field name starts with "_".
    """
    if not isinstance(value, Mapping):
        raise SchemaError(f"A document must be an object, got {type(value).__name__}")
    for name in value:
        if not isinstance(name, str) or name.startswith("_"):
            raise SchemaError(
                f"Field {name!r} starts with '_', which is reserved for system fields"
            )
    return dict(value)


def present_fields(value: Mapping[str, Any]) -> dict[str, Any]:
    """`value` without the fields set to `MISSING_FIELD` (undefined means absent)."""
    return {name: item for name, item in value.items() if item is not MISSING_FIELD}


def replace_fields(old: Document, value: Mapping[str, Any]) -> Document:
    """The document after `replace(old._id, value)`. `value` may repeat the
    system fields unchanged, as Convex allows."""
    rest = user_fields(_without_matching_system_fields(old, value))
    return {"_id": old["_id"], "_creationTime": old["_creationTime"], **present_fields(rest)}


def merge_patch(old: Document, fields: Mapping[str, Any]) -> Document:
    """The document after `patch(old._id, fields)`: a shallow merge in which a
    field set to `MISSING_FIELD` is removed."""
    rest = user_fields(_without_matching_system_fields(old, fields))
    new = dict(old)
    for name, value in rest.items():
        if value is MISSING_FIELD:
            new.pop(name, None)
        else:
            new[name] = value
    return new


def _without_matching_system_fields(old: Document, value: Mapping[str, Any]) -> dict[str, Any]:
    if not isinstance(value, Mapping):
        raise SchemaError(f"A document must be an object, got {type(value).__name__}")
    rest = dict(value)
    for name in ("_id", "_creationTime"):
        if name in rest:
            if rest[name] != old[name]:
                raise SchemaError(f"System field {name} cannot be changed")
            del rest[name]
    return rest


def dump_document(doc: Document) -> str:
    """Convex-encoded JSON text of a document.

    Raises:
        SchemaError: a field holds a value with no Convex encoding.
    """
    try:
        return dumps(encode(doc))
    except ValueEncodeError as exc:
        raise SchemaError(f"Document {doc.get('_id')} cannot be stored: {exc}") from None


def load_document(text: str) -> Document:
    """The document stored as `text` by `dump_document`."""
    try:
        value = decode(json.loads(text))
    except (ValueDecodeError, ValueError) as exc:
        raise StoreError(f"Stored document is corrupt: {exc}") from exc
    if not isinstance(value, dict):
        raise StoreError("Stored document is not an object")
    return value
