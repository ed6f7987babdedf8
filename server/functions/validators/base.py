"""`Validator`, the base every validator shares, and the mismatch error they raise."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from protocol.values import MAX_SAFE_INTEGER
from server.errors import ArgumentError
from server.functions.validators.display import show_value

__all__ = [
    "SimpleValidator",
    "Validator",
    "is_float64",
    "mismatch",
    "path_line",
]


def mismatch(value: Any, path: str, validator: Validator) -> ArgumentError:
    return ArgumentError(
        f"Value does not match validator.{path_line(path)}\n"
        f"Value: {show_value(value)}\nValidator: {validator!r}"
    )


def path_line(path: str) -> str:
    return f"\nPath: {path}" if path else ""


class Validator:
    """Base of every validator: subclasses implement `_check` and `to_json`."""

    __slots__ = ()

    @property
    def is_optional(self) -> bool:
        return False

    def validate(self, value: Any, path: str = "") -> Any:
        """`value` as the function sees it; raises `ArgumentError` if it does
        not match."""
        return self._check(value, path)

    def matches(self, value: Any) -> bool:
        try:
            self._check(value, "")
        except ArgumentError:
            return False
        return True

    def _check(self, value: Any, path: str) -> Any:
        raise NotImplementedError

    def to_json(self) -> dict[str, Any]:
        raise NotImplementedError


@dataclass(frozen=True, slots=True, repr=False)
class SimpleValidator(Validator):
    """A validator that is one isinstance-style test."""

    def __repr__(self) -> str:
        return f"v.{self._name()}()"

    def _name(self) -> str:
        raise NotImplementedError

    def _ok(self, value: Any) -> bool:
        raise NotImplementedError

    def _check(self, value: Any, path: str) -> Any:
        if not self._ok(value):
            raise mismatch(value, path, self)
        return value


def is_float64(value: Any) -> bool:
    """A float, or a plain int (a float64 that happens to be whole)."""
    return isinstance(value, float) or (
        type(value) is int and -MAX_SAFE_INTEGER <= value <= MAX_SAFE_INTEGER
    )
