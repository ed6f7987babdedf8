"""`ctx.db` of a mutation: the reader plus checked writes in one transaction."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from protocol.errors import ValueEncodeError
from protocol.values import dumps, encode
from server.config import Limits
from server.errors import DocumentNotFound, FunctionError, LimitExceeded, SchemaError
from server.functions.database.reader import DatabaseReader, ReadBudget, TableCatalog
from server.functions.pagination import PageJournal
from server.functions.readset import ReadSet
from server.functions.schema import Schema
from server.functions.timeouts import store_time
from server.limits import nesting_refusal, size_refusal, text_size
from server.store.base import Document, Transaction
from server.store.ids import id_matches_table, is_id

__all__ = [
    "DatabaseWriter",
]


class DatabaseWriter(DatabaseReader):
    """`ctx.db` of a mutation: reads and writes in one transaction. Writes
    are checked against the schema before they reach the store."""

    def __init__(
        self,
        transaction: Transaction,
        read_set: ReadSet,
        *,
        schema: Schema | None = None,
        catalog: TableCatalog | None = None,
        budget: ReadBudget | None = None,
        journal: PageJournal | None = None,
        limits: Limits | None = None,
    ) -> None:
        super().__init__(
            transaction, read_set, schema=schema, catalog=catalog, budget=budget, journal=journal
        )
        self._tx = transaction
        self._limits = limits if limits is not None else Limits()

    async def insert(self, table: str, doc: Mapping[str, Any]) -> str:
        """Insert `doc` (user fields only) into `table`; returns its `_id`."""
        if not isinstance(table, str) or not table or table.startswith("_"):
            raise FunctionError(f"Invalid table name {table!r}")
        _check_document(doc, self._limits)
        doc = self._validate(table, doc)
        with store_time():
            doc_id = await self._tx.insert(table, doc)
        self._catalog.note(table)
        return doc_id

    async def patch(self, id: str, fields: Mapping[str, Any]) -> None:
        """Shallow-merge `fields` into the document."""
        old = await self._existing(id, "patch")
        _check_document(fields, None)
        merged = {**_user_fields(old), **_user_fields(fields)}
        _check_document(merged, self._limits)  # what will be stored
        checked = self._validate_id(id, merged)
        with store_time():
            await self._tx.patch(
                id, {name: checked.get(name, value) for name, value in fields.items()}
            )

    async def replace(self, id: str, doc: Mapping[str, Any]) -> None:
        """Replace every user field of the document with `doc`."""
        await self._existing(id, "replace")
        _check_document(doc, self._limits)
        checked = self._validate_id(id, _user_fields(doc))
        with store_time():
            await self._tx.replace(id, {**doc, **checked})

    async def delete(self, id: str) -> None:
        await self._existing(id, "delete")
        with store_time():
            await self._tx.delete(id)

    async def _existing(self, id: str, verb: str) -> Document:
        if not is_id(id):
            raise FunctionError(f"Invalid argument `id` for `db.{verb}`: {id!r} is not an id")
        with store_time():
            doc = await self._tx.get(id)
        if doc is None:
            raise DocumentNotFound(f"{verb.capitalize()} on nonexistent document ID {id}")
        return doc

    # Both return the document as the schema has it stored (`v.int64()`
    # fields as Int64).
    def _validate(self, table: str, doc: Mapping[str, Any]) -> Mapping[str, Any]:
        if self._schema is None:
            return doc
        return {**doc, **self._schema.validate_document(table, _user_fields(doc))}

    def _validate_id(self, id: str, doc: Mapping[str, Any]) -> Mapping[str, Any]:
        if self._schema is not None:
            for table in self._schema.tables:
                if id_matches_table(id, table):
                    return self._schema.validate_document(table, doc)
        return doc


def _user_fields(doc: Mapping[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in doc.items() if not key.startswith("_")}


def _check_document(doc: Any, limits: Limits | None) -> None:
    """A valid Convex object, within `limits` (None: `doc` is only a patch)."""
    if not isinstance(doc, Mapping):
        raise SchemaError(f"A document must be an object, got {type(doc).__name__}")
    try:
        encoded = encode(dict(doc))
    except ValueEncodeError as exc:
        raise SchemaError(f"Document is not a valid Convex value: {exc}") from None
    if limits is None:
        return
    refusal = nesting_refusal(dict(doc), limits.document_depth) or size_refusal(
        "Document is", text_size(dumps(encoded)), limits.document_bytes
    )
    if refusal is not None:
        raise LimitExceeded(refusal)
