from __future__ import annotations

import pytest

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
    make_schema().validate_document("messages", {"body": "hi", "meta": {"likes": 2}})


def test_violation_names_table_field_path_and_expectation():
    with pytest.raises(SchemaError) as caught:
        make_schema().validate_document("messages", {"body": "hi", "meta": {"likes": 2.0}})
    message = str(caught.value)
    assert "'messages'" in message
    assert "Path: .meta.likes" in message
    assert "v.int64()" in message


def test_system_fields_are_ignored_by_validation():
    make_schema().validate_document("messages", {"_id": "x", "_creationTime": 1.0, "body": "hi"})


def test_tables_outside_the_schema_are_allowed_unless_strict():
    make_schema().validate_document("other", {"anything": 1.0})
    with pytest.raises(SchemaError, match="not in the schema"):
        make_schema(strict_tables=True).validate_document("other", {"anything": 1.0})


def test_schema_validation_off_accepts_anything():
    make_schema(schema_validation=False).validate_document("messages", {"body": 5.0})


@pytest.mark.parametrize("name", ["by_id", "by_creation_time", "_hidden"])
def test_reserved_index_names_are_refused(name):
    with pytest.raises(ConfigError, match="reserved"):
        define_table({"a": v.string()}).index(name, ["a"])


def test_index_fields_include_system_indexes():
    schema = make_schema()
    assert schema.index_fields("messages", "by_body") == ("body", "_creationTime")
    assert schema.index_fields("anything", "by_creation_time") == ("_creationTime",)
    assert schema.index_fields("messages", "by_nothing") is None
