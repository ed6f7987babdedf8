"""Validators built from other validators: optional, array, object, record, union."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from protocol.values import check_object_key
from server.errors import ArgumentError
from server.functions.validators.base import Validator, mismatch, path_line
from server.functions.validators.display import show_value

__all__ = [
    "ArrayValidator",
    "ObjectValidator",
    "OptionalValidator",
    "RecordValidator",
    "UnionValidator",
]


@dataclass(frozen=True, slots=True, repr=False)
class OptionalValidator(Validator):
    """Marks an object field that may be absent; a present value must match."""

    inner: Validator

    @property
    def is_optional(self) -> bool:
        return True

    def __repr__(self) -> str:
        return f"v.optional({self.inner!r})"

    def _check(self, value: Any, path: str) -> Any:
        return self.inner._check(value, path)

    def to_json(self) -> dict[str, Any]:
        return self.inner.to_json()


@dataclass(frozen=True, slots=True, repr=False)
class ArrayValidator(Validator):
    item: Validator

    def __repr__(self) -> str:
        return f"v.array({self.item!r})"

    def _check(self, value: Any, path: str) -> Any:
        if not isinstance(value, list):
            raise mismatch(value, path, self)
        checked = [self.item._check(item, f"{path}[{index}]") for index, item in enumerate(value)]
        return value if _same_items(checked, value) else checked

    def to_json(self) -> dict[str, Any]:
        return {"type": "array", "value": self.item.to_json()}


def _same_items(checked: list[Any], original: list[Any]) -> bool:
    # Hand back the caller's own object when nothing was converted.
    return all(a is b for a, b in zip(checked, original, strict=True))


@dataclass(frozen=True, slots=True, repr=False)
class ObjectValidator(Validator):
    fields: Mapping[str, Validator]

    def __repr__(self) -> str:
        inner = ", ".join(f"{name}: {field!r}" for name, field in self.fields.items())
        return f"v.object({{{inner}}})"

    def _check(self, value: Any, path: str) -> Any:
        if not isinstance(value, dict):
            raise mismatch(value, path, self)
        converted: dict[str, Any] | None = None
        for name, field in self.fields.items():
            if name in value:
                item = value[name]
                checked = field._check(item, f"{path}.{name}")
                if checked is not item:
                    converted = converted if converted is not None else dict(value)
                    converted[name] = checked
            elif not field.is_optional:
                raise ArgumentError(
                    f"Object is missing the required field `{name}`. Consider wrapping the "
                    f"field validator in `v.optional(...)` if this is expected.{path_line(path)}"
                    f"\n\nObject: {show_value(value)}\nValidator: {self!r}"
                )
        for name in value:
            if name not in self.fields:
                raise ArgumentError(
                    f"Object contains extra field `{name}` that is not in the validator."
                    f"{path_line(path)}\n\nObject: {show_value(value)}\nValidator: {self!r}"
                )
        return value if converted is None else converted

    def to_json(self) -> dict[str, Any]:
        return {
            "type": "object",
            "value": {
                name: {"fieldType": field.to_json(), "optional": field.is_optional}
                for name, field in self.fields.items()
            },
        }


@dataclass(frozen=True, slots=True, repr=False)
class RecordValidator(Validator):
    """An object used as a map: every key matches `keys` (a string, an id or
    a union of string literals), every value matches `values`."""

    keys: Validator
    values: Validator

    def __repr__(self) -> str:
        return f"v.record({self.keys!r}, {self.values!r})"

    def _check(self, value: Any, path: str) -> Any:
        if not isinstance(value, dict):
            raise mismatch(value, path, self)
        converted: dict[str, Any] | None = None
        for key, item in value.items():
            problem = check_object_key(key)
            if problem is not None:
                raise mismatch(value, path, self)
            self.keys._check(key, f"{path}.{key}")
            checked = self.values._check(item, f"{path}.{key}")
            if checked is not item:
                converted = converted if converted is not None else dict(value)
                converted[key] = checked
        return value if converted is None else converted

    def to_json(self) -> dict[str, Any]:
        return {
            "type": "record",
            "keys": self.keys.to_json(),
            "values": {"fieldType": self.values.to_json(), "optional": False},
        }


@dataclass(frozen=True, slots=True, repr=False)
class UnionValidator(Validator):
    members: tuple[Validator, ...]

    def __repr__(self) -> str:
        return f"v.union({', '.join(repr(member) for member in self.members)})"

    def _check(self, value: Any, path: str) -> Any:
        for member in self.members:
            try:
                return member._check(value, path)
            except ArgumentError:
                continue
        raise mismatch(value, path, self)

    def to_json(self) -> dict[str, Any]:
        return {"type": "union", "value": [member.to_json() for member in self.members]}
