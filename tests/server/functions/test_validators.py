from __future__ import annotations

import math

import pytest

from protocol.values import Int64
from server.errors import ArgumentError
from server.functions.validators import show_value, v
from server.store.ids import new_id

ACCEPTS = [
    (v.string(), "hi"),
    (v.number(), 1.5),
    (v.number(), math.nan),
    (v.number(), 5),
    (v.float64(), -(2**53)),
    (v.int64(), Int64(2**63 - 1)),
    (v.int64(), Int64(-(2**63))),
    (v.int64(), 7),
    (v.boolean(), False),
    (v.null(), None),
    (v.bytes(), b"\x00\x01"),
    (v.id("messages"), new_id("messages")),
    (v.array(v.int64()), [Int64(1), Int64(2)]),
    (v.record(v.string(), v.number()), {"a": 1, "b": 2.5}),
    (v.record(v.union(v.literal("x"), v.literal("y")), v.any()), {"x": None}),
    (v.object({"a": v.string(), "b": v.optional(v.number())}), {"a": "x"}),
    (v.union(v.string(), v.null()), None),
    (v.literal("done"), "done"),
    (v.literal(3.0), 3.0),
    (v.literal(3.0), 3),
    (v.literal(3), 3.0),
    (v.literal(Int64(3)), Int64(3)),
    (v.any(), {"anything": [b"", None]}),
]

REJECTS = [
    (v.string(), 5.0, "v.string()"),
    (v.number(), Int64(5), "v.float64()"),
    (v.number(), 2**53 + 1, "v.float64()"),
    (v.number(), True, "v.float64()"),
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
    (v.literal(1.0), True, "v.literal(1)"),
    (v.literal(1), Int64(1), "v.literal(1)"),
    (v.literal(Int64(1)), 1, "v.literal(1n)"),
    (v.record(v.string(), v.number()), ["a"], "v.record(v.string(), v.float64())"),
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
    assert str(caught.value).startswith("Value does not match validator.\nValue: ")
    assert str(caught.value).endswith(f"\nValidator: {described}")


def test_nested_mismatch_names_the_path_value_and_expectation():
    validator = v.object({"messages": v.array(v.object({"body": v.string()}))})
    value = {"messages": [{"body": "a"}, {"body": "b"}, {"body": 5.0}]}
    with pytest.raises(ArgumentError) as caught:
        validator.validate(value)
    # Convex's wording, the value as JSON (5, not Python's 5.0).
    assert str(caught.value) == (
        "Value does not match validator.\nPath: .messages[2].body\nValue: 5\nValidator: v.string()"
    )


def test_int64_takes_a_plain_int_from_python_code_and_returns_an_int64():
    validator = v.object({"n": v.int64(), "rest": v.array(v.int64()), "f": v.number()})
    value = {"n": 5, "rest": [Int64(1), 2], "f": 3}
    checked = validator.validate(value)
    assert checked == value
    assert type(checked["n"]) is Int64 and type(checked["rest"][1]) is Int64
    assert type(checked["f"]) is int  # a float64 stays as given
    assert value["n"].__class__ is int  # the caller's object is not modified


def test_a_value_with_nothing_to_convert_is_handed_back_unchanged():
    value = {"a": [1.5, "x"], "b": Int64(2)}
    validator = v.object({"a": v.array(v.union(v.number(), v.string())), "b": v.int64()})
    assert validator.validate(value) is value


def test_record_names_the_path_of_a_bad_value_and_refuses_bad_keys():
    validator = v.record(v.string(), v.number())
    with pytest.raises(ArgumentError, match=r"Path: \.b\nValue: \"x\""):
        validator.validate({"a": 1, "b": "x"})
    with pytest.raises(ArgumentError, match="v.record"):
        validator.validate({"$bad": 1})
    with pytest.raises(ArgumentError, match=r'Path: \.z\nValue: "z"'):
        v.record(v.literal("x"), v.any()).validate({"z": 1})
    with pytest.raises(TypeError, match="keys must be"):
        v.record(v.number(), v.any())
    assert validator.to_json() == {
        "type": "record",
        "keys": {"type": "string"},
        "values": {"fieldType": {"type": "number"}, "optional": False},
    }


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        (5.0, "5"),
        (2.5, "2.5"),
        (Int64(5), "5n"),
        (math.inf, "Infinity"),
        (math.nan, "NaN"),
        (-0.0, "-0.0"),
        (b"\x01\x02\x03", '{"$bytes":"AQID"}'),
        ({"a": [None, True, "é"]}, '{"a":[null,true,"é"]}'),
    ],
)
def test_values_in_messages_are_shown_as_convex_json(value, shown):
    assert show_value(value) == shown


def test_a_long_value_is_cut_short():
    shown = show_value(["x" * 50] * 100)
    assert len(shown) == 120 and shown.endswith("...")


def test_object_refuses_extra_field_by_name():
    with pytest.raises(ArgumentError, match="extra field `b`"):
        v.object({"a": v.string()}).validate({"a": "x", "b": 1.0})


def test_object_requires_non_optional_field_by_name():
    with pytest.raises(ArgumentError, match="missing the required field `a`"):
        v.object({"a": v.string()}).validate({})


def test_optional_field_when_present_must_match():
    with pytest.raises(ArgumentError, match=r"Path: \.b\n"):
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
