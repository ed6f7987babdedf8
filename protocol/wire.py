"""The shape every wire message shares: one JSON object per text frame."""

from __future__ import annotations

from protocol.values import JSONValue, dumps

__all__ = ["JsonMessage"]


class JsonMessage:
    """Base of the message dataclasses: `serialize()` is `to_json()` as
    compact text. Hot-path messages override `serialize` to splice RawJSON."""

    __slots__ = ()

    def to_json(self) -> dict[str, JSONValue]:
        raise NotImplementedError  # every message class defines it

    def serialize(self) -> str:
        return dumps(self.to_json())
