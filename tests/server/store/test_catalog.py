"""Index definitions, document keys and the rules for user fields."""

from __future__ import annotations

import pytest

from protocol.values import Int64
from server.errors import ConfigError, SchemaError, StoreError
from server.store.base import IndexDef
from server.store.catalog import (
    IndexCatalog,
    dump_document,
    load_document,
    merge_patch,
    replace_fields,
    user_fields,
)
from server.store.keys import MISSING_FIELD, index_key

BY_AUTHOR = IndexDef("messages", "messages.by_author", ("author.name", "n"))


def test_keys_cover_system_and_schema_indexes() -> None:
    catalog = IndexCatalog([BY_AUTHOR])
    doc = {"_id": "id1", "_creationTime": 5.0, "author": {"name": "ann"}}
    assert catalog.keys("messages", doc) == [
        ("messages.by_id", index_key([], "id1")),
        ("messages.by_creation_time", index_key([5.0], "id1")),
        ("messages.by_author", index_key(["ann", MISSING_FIELD], "id1")),
    ]
    assert [key for _, key in catalog.keys("messages", None)] == [None, None, None]


def test_fields_of_system_indexes_are_known_for_any_table() -> None:
    catalog = IndexCatalog([BY_AUTHOR])
    assert catalog.fields("anything.by_creation_time") == ("_creationTime",)
    assert catalog.fields("messages.by_author") == ("author.name", "n")
    with pytest.raises(SchemaError):
        catalog.fields("messages.by_other")


@pytest.mark.parametrize(
    "bad",
    [
        IndexDef("messages", "other.by_x", ("x",)),
        IndexDef("messages", "messages.by_id", ("x",)),
        IndexDef("messages", "messages.by_x", ()),
        IndexDef("_messages", "_messages.by_x", ("x",)),
    ],
)
def test_malformed_index_definitions_are_config_errors(bad: IndexDef) -> None:
    with pytest.raises((ConfigError, SchemaError)):
        IndexCatalog([bad])


def test_a_duplicate_index_name_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="twice"):
        IndexCatalog([BY_AUTHOR, IndexDef("messages", "messages.by_author", ("x",))])


def test_catalog_round_trips_through_json() -> None:
    catalog = IndexCatalog([BY_AUTHOR])
    assert IndexCatalog.from_json(catalog.to_json()).defs == catalog.defs
    assert IndexCatalog.from_json(None).defs == ()


def test_user_fields_refuse_underscore_names() -> None:
    assert user_fields({"a": 1}) == {"a": 1}
    with pytest.raises(SchemaError, match="_x"):
        user_fields({"_x": 1})


def test_replace_and_patch_accept_unchanged_system_fields_only() -> None:
    old = {"_id": "i", "_creationTime": 1.0, "a": 1, "b": 2}
    assert replace_fields(old, {"_id": "i", "c": 3}) == {"_id": "i", "_creationTime": 1.0, "c": 3}
    assert merge_patch(old, {"a": MISSING_FIELD, "c": 3}) == {
        "_id": "i",
        "_creationTime": 1.0,
        "b": 2,
        "c": 3,
    }
    with pytest.raises(SchemaError):
        merge_patch(old, {"_id": "j"})


def test_documents_round_trip_int64_bytes_and_special_floats() -> None:
    doc = {"_id": "i", "n": Int64(-(2**63)), "b": b"\x00", "f": float("-inf"), "z": -0.0}
    loaded = load_document(dump_document(doc))
    assert loaded == doc and isinstance(loaded["n"], int)
    assert str(loaded["z"]) == "-0.0"


def test_a_corrupt_stored_document_is_a_store_error() -> None:
    with pytest.raises(StoreError):
        load_document("{not json")
