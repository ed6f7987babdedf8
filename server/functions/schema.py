"""The optional schema of an app: its tables, their document validators and indexes.

An app's `schema.py` defines::

    schema = define_schema({
        "messages": define_table({"channel": v.string(), "body": v.string()})
            .index("by_channel", ["channel"]),
    })

Like Convex, every index implicitly ends with `_creationTime` (then the id),
so rows with equal indexed fields come back in creation order.

`.search_index(name, search_field="body", filter_fields=["channel"])` adds a
full-text search index (`with_search_index` in queries; see
`server.functions.search`). Index names are unique per table across both
kinds.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from server.errors import ArgumentError, ConfigError, SchemaError
from server.functions.validators import ObjectValidator, Validator, v
from server.store.base import IndexDef, SearchIndexDef

__all__ = [
    "CREATION_TIME",
    "MAX_SEARCH_FILTER_FIELDS",
    "RESERVED_INDEXES",
    "Schema",
    "TableDefinition",
    "define_schema",
    "define_table",
    "system_index_fields",
]

CREATION_TIME = "_creationTime"
RESERVED_INDEXES = frozenset({"by_id", "by_creation_time"})
_NAME_RE = re.compile(r"[A-Za-z][A-Za-z0-9_]*")
MAX_SEARCH_FILTER_FIELDS = 16
"""Most filter fields one search index may have (Convex's limit)."""


def system_index_fields(index: str) -> tuple[str, ...] | None:
    """Fields of a system index (without the trailing id), or None if not one."""
    if index == "by_id":
        return ("_id",)
    if index == "by_creation_time":
        return (CREATION_TIME,)
    return None


@dataclass(frozen=True, slots=True)
class TableDefinition:
    """A table's document validator and its indexes (name -> user fields)."""

    document: Validator | None
    indexes: tuple[tuple[str, tuple[str, ...]], ...] = ()
    # (name, search field, filter fields)
    search_indexes: tuple[tuple[str, str, tuple[str, ...]], ...] = ()

    def index(self, name: str, fields: Sequence[str]) -> TableDefinition:
        """A copy of this table with one more index on `fields` (in order)."""
        self._check_new_name(name)
        if isinstance(fields, str) or not fields:
            raise ConfigError(f"Index {name!r} needs a non-empty list of field names")
        for path in fields:
            if (
                not isinstance(path, str)
                or not path
                or path.startswith("_")
                and path != CREATION_TIME
            ):
                raise ConfigError(f"Index {name!r} has an invalid field {path!r}")
        return TableDefinition(
            self.document, (*self.indexes, (name, tuple(fields))), self.search_indexes
        )

    def search_index(
        self, name: str, *, search_field: str, filter_fields: Sequence[str] = ()
    ) -> TableDefinition:
        """A copy of this table with one more full-text search index over the
        string field `search_field`, with equality filters on `filter_fields`."""
        self._check_new_name(name)
        if not isinstance(search_field, str) or not search_field or search_field.startswith("_"):
            raise ConfigError(f"Search index {name!r} needs a search_field naming a user field")
        if isinstance(filter_fields, str):
            raise ConfigError(f"Search index {name!r}: filter_fields must be a list of names")
        if len(filter_fields) > MAX_SEARCH_FILTER_FIELDS:
            raise ConfigError(
                f"Search index {name!r} has {len(filter_fields)} filter fields; "
                f"at most {MAX_SEARCH_FILTER_FIELDS} are allowed"
            )
        for path in filter_fields:
            if not isinstance(path, str) or not path or path.startswith("_"):
                raise ConfigError(f"Search index {name!r} has an invalid filter field {path!r}")
        if len(set(filter_fields)) != len(filter_fields):
            raise ConfigError(f"Search index {name!r} names a filter field twice")
        entry = (name, search_field, tuple(filter_fields))
        return TableDefinition(self.document, self.indexes, (*self.search_indexes, entry))

    def _check_new_name(self, name: str) -> None:
        if (
            not isinstance(name, str)
            or name in RESERVED_INDEXES
            or name.startswith("_")
            or not _NAME_RE.fullmatch(name)
        ):
            raise ConfigError(
                f"Index name {name!r} is not allowed: names must start with a letter, "
                "and by_id, by_creation_time and names starting with '_' are reserved"
            )
        taken = [existing for existing, _ in self.indexes]
        taken += [existing for existing, _, _ in self.search_indexes]
        if name in taken:
            raise ConfigError(f"Index {name!r} is defined twice")


def define_table(document: Mapping[str, Validator] | Validator | None = None) -> TableDefinition:
    """A table whose documents must match `document` (a field dict or validator;
    None accepts any document)."""
    if document is None or isinstance(document, Validator):
        return TableDefinition(document)
    return TableDefinition(v.object(document))


@dataclass(frozen=True, slots=True)
class Schema:
    tables: Mapping[str, TableDefinition]
    schema_validation: bool = True
    strict_tables: bool = False
    _index_fields: dict[str, tuple[str, ...]] = field(default_factory=dict, repr=False)
    _search: dict[str, SearchIndexDef] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        for table, definition in self.tables.items():
            for name, fields in definition.indexes:
                self._index_fields[f"{table}.{name}"] = _with_creation_time(fields)
            for name, search_field, filter_fields in definition.search_indexes:
                qualified = f"{table}.{name}"
                self._search[qualified] = SearchIndexDef(
                    table, qualified, search_field, filter_fields
                )

    def index_defs(self) -> list[IndexDef | SearchIndexDef]:
        """The user indexes (search indexes too), qualified as
        "table.index", for `Store.open`."""
        defs: list[IndexDef | SearchIndexDef] = [
            IndexDef(qualified.split(".", 1)[0], qualified, fields)
            for qualified, fields in self._index_fields.items()
        ]
        return defs + list(self._search.values())

    def search_index(self, table: str, index: str) -> SearchIndexDef | None:
        """The search index `table.index`, or None if there is none."""
        return self._search.get(f"{table}.{index}")

    def index_fields(self, table: str, index: str) -> tuple[str, ...] | None:
        """The key fields (before the id) of `table.index`, system indexes
        included, or None if there is no such index."""
        system = system_index_fields(index)
        if system is not None:
            return system
        return self._index_fields.get(f"{table}.{index}")

    def validate_document(self, table: str, doc: Mapping[str, Any]) -> Mapping[str, Any]:
        """`doc` (user fields only) as stored (`v.int64()` fields as `Int64`);
        raises `SchemaError` if it breaks the schema."""
        definition = self.tables.get(table)
        if definition is None:
            if self.strict_tables:
                raise SchemaError(
                    f"Table {table!r} is not in the schema, and the schema allows no other tables"
                )
            return doc
        if not self.schema_validation or definition.document is None:
            return doc
        user_fields = {key: value for key, value in doc.items() if not key.startswith("_")}
        try:
            checked = definition.document.validate(user_fields, "")
        except ArgumentError as exc:
            raise SchemaError(
                f"Failed to insert or update a document in table {table!r} because it does not "
                f"match the schema: {exc}"
            ) from None
        return doc if checked is user_fields else {**doc, **checked}


def _with_creation_time(fields: tuple[str, ...]) -> tuple[str, ...]:
    return fields if fields[-1] == CREATION_TIME else (*fields, CREATION_TIME)


def define_schema(
    tables: Mapping[str, TableDefinition],
    *,
    schema_validation: bool = True,
    strict_tables: bool = False,
) -> Schema:
    """The schema of an app. Tables not listed are allowed unless `strict_tables`."""
    for name, definition in tables.items():
        if not isinstance(definition, TableDefinition):
            raise ConfigError(f"Table {name!r} must be define_table(...), got {definition!r}")
        if not _NAME_RE.fullmatch(name):
            raise ConfigError(f"Table name {name!r} must start with a letter (letters, digits, _)")
        document = definition.document
        if document is not None and not isinstance(document, ObjectValidator):
            # Unions of objects are fine too; anything else cannot be a document.
            if not document.matches({}) and not _is_object_like(document):
                raise ConfigError(f"Table {name!r} needs an object validator for its documents")
    return Schema(dict(tables), schema_validation, strict_tables)


def _is_object_like(validator: Validator) -> bool:
    members = getattr(validator, "members", None)
    if members is None:
        return False
    return all(isinstance(member, ObjectValidator) for member in members)
