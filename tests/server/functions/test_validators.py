from __future__ import annotations

import math

import pytest

from server.errors import ArgumentError
from server.functions.validators import v
from server.store.ids import new_id

ACCEPTS = [
    (v.string(), "hi"),
    (v.number(), 1.5),
    (v.number(), math.nan),
    (v.int64(), 2**63 - 1),
    (v.int64(), -(2**63)),
    (v.boolean(), False),
    (v.null(), None),
    (v.bytes(), b"\x00\x01"),
    (v.id("messages"), new_id("messages")),
    (v.array(v.int64()), [1, 2, 3]),
    (v.object({"a": v.string(), "b": v.optional(v.number())}), {"a": "x"}),
    (v.union(v.string(), v.null()), None),
    (v.literal("done"), "done"),
    (v.literal(3.0), 3.0),
    (v.any(), {"anything": [b"", None]}),
]

REJECTS = [
    (v.string(), 5.0, "v.string()"),
    (v.number(), 5, "v.number()"),
    (v.number(), True, "v.number()"),
    (v.int64(), True, "v.int64()"),
    (v.int64(), 2**63, "v.int64()"),
    (v.int64(), 1.0, "v.int64()"),
    (v.boolean(), 1, "v.boolean()"),
    (v.null(), 0.0, "v.null()"),
    (v.bytes(), "AQID", "v.bytes()"),
    (v.id("messages"), new_id("channels"), 'v.id("messages")'),
    (v.id("messages"), "not-an-id", 'v.id("messages")'),
    (v.array(v.string()), "abc", "v.array(v.string())"),
    (v.union(v.string(), v.null()), 1.0, "v.union(v.string(), v.null())"),
    (v.literal("done"), "todo", 'v.literal("done")'),
    (v.literal(1.0), True, "v.literal(1.0)"),
    (v.object({}), [], "v.object({})"),
]


@pytest.mark.parametrize(("validator", "value"), ACCEPTS)
def test_validator_accepts_matching_value(validator, value):
    validator.validate(value)
    assert validator.matches(value)


@pytest.mark.parametrize(("validator", "value", "described"), REJECTS)
def test_validator_rejects_value_naming_the_validator(validator, value, described):
    with pytest.raises(ArgumentError) as caught:
        validator.validate(value)
    assert f"Validator: {described}" in str(caught.value)
    assert "Path: (root)" in str(caught.value)


def test_nested_mismatch_names_the_path_value_and_expectation():
    validator = v.object({"messages": v.array(v.object({"body": v.string()}))})
    value = {"messages": [{"body": "a"}, {"body": "b"}, {"body": 5.0}]}
    with pytest.raises(ArgumentError) as caught:
        validator.validate(value)
    assert str(caught.value) == (
        "Value does not match validator. Path: .messages[2].body. Value: 5.0. Validator: v.string()"
    )


def test_object_refuses_extra_field_by_name():
    with pytest.raises(ArgumentError, match="extra field `b`"):
        v.object({"a": v.string()}).validate({"a": "x", "b": 1.0})


def test_object_requires_non_optional_field_by_name():
    with pytest.raises(ArgumentError, match="missing the required field `a`"):
        v.object({"a": v.string()}).validate({})


def test_optional_field_when_present_must_match():
    with pytest.raises(ArgumentError, match=r"Path: \.b\."):
        v.object({"b": v.optional(v.number())}).validate({"b": "x"})


def test_to_json_describes_validators_in_convex_form():
    validator = v.object(
        {
            "id": v.id("users"),
            "tags": v.array(v.string()),
            "n": v.optional(v.int64()),
            "kind": v.union(v.literal("a"), v.null()),
        }
    )
    assert validator.to_json() == {
        "type": "object",
        "value": {
            "id": {"fieldType": {"type": "id", "tableName": "users"}, "optional": False},
            "tags": {
                "fieldType": {"type": "array", "value": {"type": "string"}},
                "optional": False,
            },
            "n": {"fieldType": {"type": "bigint"}, "optional": True},
            "kind": {
                "fieldType": {
                    "type": "union",
                    "value": [{"type": "literal", "value": "a"}, {"type": "null"}],
                },
                "optional": False,
            },
        },
    }


def test_building_with_a_non_validator_is_refused():
    with pytest.raises(TypeError, match="expected a validator"):
        v.array("string")  # type: ignore[arg-type]
