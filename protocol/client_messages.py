"""Messages a client sends to the server (convex-protocol.md §3).

Each message is a frozen dataclass with ``to_json()``, ``serialize()`` and a
``from_json()`` classmethod; :func:`parse_client_message` turns one text frame
into the right class. Function arguments stay raw (still Convex-encoded) so
the server can decode them per query and fail only the query whose args are
bad, not the whole connection.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal, TypeAlias

from protocol.errors import LocalProtocolError
from protocol.fields import Fields, parse_tagged
from protocol.timestamps import encode_ts
from protocol.values import JSONValue
from protocol.wire import JsonMessage

__all__ = [
    "Action",
    "Authenticate",
    "ClientMessage",
    "Connect",
    "Event",
    "ModifyQuerySet",
    "Mutation",
    "QuerySetAdd",
    "QuerySetModification",
    "QuerySetRemove",
    "TokenType",
    "parse_client_message",
]

TokenType: TypeAlias = Literal["User", "None", "Admin"]
_TOKEN_TYPES: tuple[TokenType, ...] = ("User", "None", "Admin")


@dataclass(frozen=True, slots=True)
class Connect(JsonMessage):
    """§3.1: the first message on every socket; the server does not reply."""

    session_id: str
    connection_count: int
    last_close_reason: str | None
    max_observed_timestamp: int | None
    client_ts: float | None

    def to_json(self) -> dict[str, JSONValue]:
        data: dict[str, JSONValue] = {
            "type": "Connect",
            "sessionId": self.session_id,
            "connectionCount": self.connection_count,
            "lastCloseReason": self.last_close_reason,
        }
        if self.max_observed_timestamp is not None:
            data["maxObservedTimestamp"] = encode_ts(self.max_observed_timestamp)
        if self.client_ts is not None:
            data["clientTs"] = self.client_ts
        return data

    @classmethod
    def from_json(cls, fields: Fields) -> Connect:
        return cls(
            session_id=fields.string("sessionId"),
            connection_count=fields.integer("connectionCount"),
            last_close_reason=fields.optional_str("lastCloseReason"),
            max_observed_timestamp=fields.optional_ts("maxObservedTimestamp"),
            client_ts=fields.optional_number("clientTs"),
        )


@dataclass(frozen=True, slots=True)
class QuerySetAdd:
    """§3.2: subscribe ``query_id`` to a query; ``args`` is the raw ``[{...}]``."""

    query_id: int
    udf_path: str
    args: list[JSONValue]
    journal: str | None = None
    component_path: str | None = None

    def to_json(self) -> dict[str, JSONValue]:
        data: dict[str, JSONValue] = {
            "type": "Add",
            "queryId": self.query_id,
            "udfPath": self.udf_path,
            "args": self.args,
        }
        if self.journal is not None:
            data["journal"] = self.journal
        if self.component_path is not None:
            data["componentPath"] = self.component_path
        return data

    @classmethod
    def from_json(cls, fields: Fields) -> QuerySetAdd:
        return cls(
            query_id=fields.integer("queryId"),
            udf_path=fields.string("udfPath"),
            args=fields.array("args"),
            journal=fields.optional_str("journal"),
            component_path=fields.optional_str("componentPath"),
        )


@dataclass(frozen=True, slots=True)
class QuerySetRemove:
    """§3.2: unsubscribe ``query_id``."""

    query_id: int

    def to_json(self) -> dict[str, JSONValue]:
        return {"type": "Remove", "queryId": self.query_id}

    @classmethod
    def from_json(cls, fields: Fields) -> QuerySetRemove:
        return cls(query_id=fields.integer("queryId"))


QuerySetModification: TypeAlias = QuerySetAdd | QuerySetRemove


@dataclass(frozen=True, slots=True)
class ModifyQuerySet(JsonMessage):
    """§3.2: move the query set from ``base_version`` to ``new_version``."""

    base_version: int
    new_version: int
    modifications: tuple[QuerySetModification, ...]

    def to_json(self) -> dict[str, JSONValue]:
        return {
            "type": "ModifyQuerySet",
            "baseVersion": self.base_version,
            "newVersion": self.new_version,
            "modifications": [m.to_json() for m in self.modifications],
        }

    @classmethod
    def from_json(cls, fields: Fields) -> ModifyQuerySet:
        return cls(
            base_version=fields.integer("baseVersion"),
            new_version=fields.integer("newVersion"),
            modifications=tuple(
                _parse_modification(Fields.at(item, f"ModifyQuerySet.modifications[{index}]"))
                for index, item in enumerate(fields.array("modifications"))
            ),
        )


def _parse_modification(fields: Fields) -> QuerySetModification:
    kind = fields.choice("type", ("Add", "Remove"))
    if kind == "Add":
        return QuerySetAdd.from_json(fields)
    return QuerySetRemove.from_json(fields)


@dataclass(frozen=True, slots=True)
class Mutation(JsonMessage):
    """§3.3: run a mutation; ``args`` is the raw ``[{...}]``."""

    request_id: int
    udf_path: str
    args: list[JSONValue]
    component_path: str | None = None

    def to_json(self) -> dict[str, JSONValue]:
        return _request_json(
            "Mutation", self.request_id, self.udf_path, self.args, self.component_path
        )

    @classmethod
    def from_json(cls, fields: Fields) -> Mutation:
        return cls(*_request_fields(fields))


@dataclass(frozen=True, slots=True)
class Action(JsonMessage):
    """§3.3: run an action; ``args`` is the raw ``[{...}]``."""

    request_id: int
    udf_path: str
    args: list[JSONValue]
    component_path: str | None = None

    def to_json(self) -> dict[str, JSONValue]:
        return _request_json(
            "Action", self.request_id, self.udf_path, self.args, self.component_path
        )

    @classmethod
    def from_json(cls, fields: Fields) -> Action:
        return cls(*_request_fields(fields))


def _request_json(
    kind: str, request_id: int, udf_path: str, args: list[JSONValue], component_path: str | None
) -> dict[str, JSONValue]:
    data: dict[str, JSONValue] = {
        "type": kind,
        "requestId": request_id,
        "udfPath": udf_path,
        "args": args,
    }
    if component_path is not None:
        data["componentPath"] = component_path
    return data


def _request_fields(fields: Fields) -> tuple[int, str, list[JSONValue], str | None]:
    return (
        fields.integer("requestId"),
        fields.string("udfPath"),
        fields.array("args"),
        fields.optional_str("componentPath"),
    )


@dataclass(frozen=True, slots=True)
class Authenticate(JsonMessage):
    """§3.4: set (or clear, with ``token_type="None"``) the connection's identity."""

    base_version: int
    token_type: TokenType
    value: str | None = None
    impersonating: JSONValue | None = None

    def __post_init__(self) -> None:
        if self.token_type not in _TOKEN_TYPES:
            raise LocalProtocolError(f"Authenticate.tokenType {self.token_type!r} is not valid")
        if self.token_type != "None" and self.value is None:
            raise LocalProtocolError(f"Authenticate with tokenType {self.token_type} needs a value")

    def to_json(self) -> dict[str, JSONValue]:
        data: dict[str, JSONValue] = {
            "type": "Authenticate",
            "baseVersion": self.base_version,
            "tokenType": self.token_type,
        }
        if self.value is not None:
            data["value"] = self.value
        if self.impersonating is not None:
            data["impersonating"] = self.impersonating
        return data

    @classmethod
    def from_json(cls, fields: Fields) -> Authenticate:
        token_type = fields.choice("tokenType", _TOKEN_TYPES)
        value = fields.optional_str("value")
        if token_type != "None" and value is None:
            raise fields.fail("value", f"missing token for tokenType {token_type}")
        # The Rust client spells the admin identity key `acting_as`.
        impersonating = fields.optional_any("impersonating")
        if impersonating is None:
            impersonating = fields.optional_any("acting_as")
        return cls(fields.integer("baseVersion"), token_type, value, impersonating)


@dataclass(frozen=True, slots=True)
class Event(JsonMessage):
    """§3.5: client telemetry; the server accepts and ignores it."""

    event_type: str
    event: JSONValue

    def to_json(self) -> dict[str, JSONValue]:
        return {"type": "Event", "eventType": self.event_type, "event": self.event}

    @classmethod
    def from_json(cls, fields: Fields) -> Event:
        return cls(event_type=fields.string("eventType"), event=fields.optional_any("event"))


ClientMessage: TypeAlias = Connect | ModifyQuerySet | Mutation | Action | Authenticate | Event

_PARSERS: dict[str, Callable[[Fields], ClientMessage]] = {
    "Connect": Connect.from_json,
    "ModifyQuerySet": ModifyQuerySet.from_json,
    "Mutation": Mutation.from_json,
    "Action": Action.from_json,
    "Authenticate": Authenticate.from_json,
    "Event": Event.from_json,
}


def parse_client_message(text: str | bytes) -> ClientMessage:
    """Parse one client-to-server text frame.

    Raises:
        RemoteProtocolError: malformed JSON, a non-object, an unknown ``type``,
            or a missing or ill-typed field (the message names it).
    """
    return parse_tagged(text, _PARSERS, "client")
