from __future__ import annotations

import pytest

from protocol.values import Int64
from server.errors import ConfigError, SchemaError
from server.functions.schema import define_schema, define_table
from server.functions.validators import v


def make_schema(**options):
    return define_schema(
        {
            "messages": define_table(
                {"body": v.string(), "meta": v.optional(v.object({"likes": v.int64()}))}
            ).index("by_body", ["body"]),
        },
        **options,
    )


def test_valid_document_passes():
    stored = make_schema().validate_document("messages", {"body": "hi", "meta": {"likes": 2}})
    assert stored == {"body": "hi", "meta": {"likes": 2}}
    # Passing means stored in the schema's types: the v.int64() field as Int64.
    assert type(stored["meta"]["likes"]) is Int64


def test_violation_names_table_field_path_and_expectation():
    with pytest.raises(SchemaError) as caught:
        make_schema().validate_document("messages", {"body": "hi", "meta": {"likes": 2.0}})
    message = str(caught.value)
    assert "'messages'" in message
    assert "Path: .meta.likes" in message
    assert "v.int64()" in message


def test_system_fields_are_ignored_by_validation():
    # The schema declares neither field, so checking them would refuse the document.
    doc = {"_id": "x", "_creationTime": 1.0, "body": "hi"}
    assert make_schema().validate_document("messages", doc) == doc
    with pytest.raises(SchemaError, match="Path: .body"):
        make_schema().validate_document("messages", {"_id": "x", "body": 5.0})


def test_tables_outside_the_schema_are_allowed_unless_strict():
    make_schema().validate_document("other", {"anything": 1.0})
    with pytest.raises(SchemaError, match="not in the schema"):
        make_schema(strict_tables=True).validate_document("other", {"anything": 1.0})


def test_schema_validation_off_accepts_anything():
    doc = {"body": 5.0, "extra": [1.0]}
    with pytest.raises(SchemaError):
        make_schema().validate_document("messages", doc)
    assert make_schema(schema_validation=False).validate_document("messages", doc) == doc


@pytest.mark.parametrize("name", ["by_id", "by_creation_time", "_hidden"])
def test_reserved_index_names_are_refused(name):
    with pytest.raises(ConfigError, match="reserved"):
        define_table({"a": v.string()}).index(name, ["a"])


def test_index_fields_include_system_indexes():
    schema = make_schema()
    assert schema.index_fields("messages", "by_body") == ("body", "_creationTime")
    assert schema.index_fields("anything", "by_creation_time") == ("_creationTime",)
    assert schema.index_fields("messages", "by_nothing") is None
