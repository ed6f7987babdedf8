"""Messages the server sends to a client (convex-protocol.md §4).

Each message is a frozen dataclass with ``to_json()``, ``serialize()`` and a
``from_json()`` classmethod; :func:`parse_server_message` turns one text frame
into the right class.

``Transition`` and ``QueryUpdated`` are the server's hot path: one commit can
fan a result out to thousands of sockets. Their ``serialize()`` glues small
``json.dumps`` pieces together and splices :class:`RawJSON` values verbatim,
so a result serialized once is never re-encoded per socket.
"""

from __future__ import annotations

import enum
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Final, TypeAlias

from protocol.errors import LocalProtocolError
from protocol.fields import Fields, parse_tagged
from protocol.timestamps import MAX_TS, encode_ts
from protocol.values import JSONValue, RawJSON, dumps
from protocol.versions import StateVersion
from protocol.wire import JsonMessage

__all__ = [
    "MISSING",
    "ActionResponse",
    "AuthError",
    "FatalError",
    "Missing",
    "MutationResponse",
    "Ping",
    "QueryFailed",
    "QueryRemoved",
    "QueryUpdated",
    "ServerMessage",
    "StateModification",
    "Transition",
    "TransitionChunk",
    "parse_server_message",
    "transition_text",
    "version_text",
]


class Missing(enum.Enum):
    """Marks an optional field that is absent, as opposed to present and null.

    It matters for ``errorData``: a present null means "ConvexError whose data
    is null", an absent one means "plain error".
    """

    MISSING = "MISSING"

    def __repr__(self) -> str:
        return "MISSING"


MISSING: Final = Missing.MISSING

Payload: TypeAlias = JSONValue | RawJSON


def _payload_text(value: Payload) -> str:
    return value.text if isinstance(value, RawJSON) else dumps(value)


def _payload_json(value: Payload) -> JSONValue:
    if isinstance(value, RawJSON):
        parsed: JSONValue = json.loads(value.text)
        return parsed
    return value


def _lines_text(lines: tuple[str, ...]) -> str:
    return dumps(list(lines)) if lines else "[]"


def _error_data(fields: Fields) -> Payload | Missing:
    return fields.data["errorData"] if fields.has("errorData") else MISSING


def version_text(version: StateVersion) -> str:
    """A StateVersion's wire form, as text."""
    return (
        f'{{"querySet":{version.query_set:d},"identity":{version.identity:d},'
        f'"ts":"{encode_ts(version.ts)}"}}'
    )


def transition_text(
    start: str,
    end: str,
    modifications: Sequence[StateModification],
    *,
    client_clock_skew: int | None = None,
    server_ts: int | None = None,
) -> str:
    """A Transition's wire form from its versions' texts (see `version_text`)."""
    mods = ",".join([m.serialize() for m in modifications])
    # Both must be integers: the Rust client refuses floats here.
    skew = "" if client_clock_skew is None else f',"clientClockSkew":{client_clock_skew:d}'
    stamp = "" if server_ts is None else f',"serverTs":{server_ts:d}'
    return (
        f'{{"type":"Transition","startVersion":{start},"endVersion":{end},'
        f'"modifications":[{mods}]{skew}{stamp}}}'
    )


@dataclass(frozen=True, slots=True)
class QueryUpdated:
    """A query's new result, inside a Transition."""

    query_id: int
    value: Payload
    log_lines: tuple[str, ...] = ()
    journal: str | None = None

    def to_json(self) -> dict[str, JSONValue]:
        return {
            "type": "QueryUpdated",
            "queryId": self.query_id,
            "value": _payload_json(self.value),
            "logLines": list(self.log_lines),
            "journal": self.journal,
        }

    def serialize(self) -> str:
        journal = "null" if self.journal is None else dumps(self.journal)
        return (
            f'{{"type":"QueryUpdated","queryId":{self.query_id:d},'
            f'"value":{_payload_text(self.value)},"logLines":{_lines_text(self.log_lines)},'
            f'"journal":{journal}}}'
        )

    @classmethod
    def from_json(cls, fields: Fields) -> QueryUpdated:
        # The JS client reads a missing value as null; so do we.
        return cls(
            query_id=fields.integer("queryId"),
            value=fields.optional_any("value"),
            log_lines=fields.strings("logLines"),
            journal=fields.optional_str("journal"),
        )


@dataclass(frozen=True, slots=True)
class QueryFailed(JsonMessage):
    """A query's failure, inside a Transition; ``error_data`` only for app errors."""

    query_id: int
    error_message: str
    log_lines: tuple[str, ...] = ()
    journal: str | None = None
    error_data: Payload | Missing = MISSING

    def to_json(self) -> dict[str, JSONValue]:
        data: dict[str, JSONValue] = {
            "type": "QueryFailed",
            "queryId": self.query_id,
            "errorMessage": self.error_message,
            "logLines": list(self.log_lines),
            "journal": self.journal,
        }
        if self.error_data is not MISSING:
            data["errorData"] = _payload_json(self.error_data)
        return data

    @classmethod
    def from_json(cls, fields: Fields) -> QueryFailed:
        return cls(
            query_id=fields.integer("queryId"),
            error_message=fields.string("errorMessage"),
            log_lines=fields.strings("logLines"),
            journal=fields.optional_str("journal"),
            error_data=_error_data(fields),
        )


@dataclass(frozen=True, slots=True)
class QueryRemoved:
    """Confirms a Remove, inside a Transition."""

    query_id: int

    def to_json(self) -> dict[str, JSONValue]:
        return {"type": "QueryRemoved", "queryId": self.query_id}

    def serialize(self) -> str:
        return f'{{"type":"QueryRemoved","queryId":{self.query_id:d}}}'

    @classmethod
    def from_json(cls, fields: Fields) -> QueryRemoved:
        return cls(query_id=fields.integer("queryId"))


StateModification: TypeAlias = QueryUpdated | QueryFailed | QueryRemoved

_MODIFICATION_PARSERS: dict[str, Callable[[Fields], StateModification]] = {
    "QueryUpdated": QueryUpdated.from_json,
    "QueryFailed": QueryFailed.from_json,
    "QueryRemoved": QueryRemoved.from_json,
}


def _parse_modification(fields: Fields) -> StateModification:
    kind = fields.choice("type", tuple(_MODIFICATION_PARSERS))
    return _MODIFICATION_PARSERS[kind](fields)


@dataclass(frozen=True, slots=True)
class Transition:
    """§4.1: move the client from ``start_version`` to ``end_version``."""

    start_version: StateVersion
    end_version: StateVersion
    modifications: tuple[StateModification, ...]
    client_clock_skew: int | None = None
    server_ts: int | None = None

    def to_json(self) -> dict[str, JSONValue]:
        data: dict[str, JSONValue] = {
            "type": "Transition",
            "startVersion": self.start_version.to_json(),
            "endVersion": self.end_version.to_json(),
            "modifications": [m.to_json() for m in self.modifications],
        }
        if self.client_clock_skew is not None:
            data["clientClockSkew"] = self.client_clock_skew
        if self.server_ts is not None:
            data["serverTs"] = self.server_ts
        return data

    def serialize(self) -> str:
        return transition_text(
            version_text(self.start_version),
            version_text(self.end_version),
            self.modifications,
            client_clock_skew=self.client_clock_skew,
            server_ts=self.server_ts,
        )

    @classmethod
    def from_json(cls, fields: Fields) -> Transition:
        return cls(
            start_version=StateVersion.from_json(
                fields.required("startVersion"), "Transition.startVersion"
            ),
            end_version=StateVersion.from_json(
                fields.required("endVersion"), "Transition.endVersion"
            ),
            modifications=tuple(
                _parse_modification(Fields.at(item, f"Transition.modifications[{index}]"))
                for index, item in enumerate(fields.array("modifications"))
            ),
            client_clock_skew=fields.signed_int("clientClockSkew"),
            server_ts=fields.optional_int("serverTs", MAX_TS),
        )


@dataclass(frozen=True, slots=True)
class MutationResponse(JsonMessage):
    """§4.3: a mutation's outcome; success carries the commit ``ts``."""

    request_id: int
    success: bool
    result: Payload
    ts: int | None
    log_lines: tuple[str, ...] = ()
    error_data: Payload | Missing = MISSING

    def __post_init__(self) -> None:
        # JS decodes ts unconditionally on success; the real server sends null on failure.
        if self.success and self.ts is None:
            raise LocalProtocolError("a successful MutationResponse needs a ts")
        if not self.success and self.ts is not None:
            raise LocalProtocolError("a failed MutationResponse must not carry a ts")

    def to_json(self) -> dict[str, JSONValue]:
        data: dict[str, JSONValue] = {
            "type": "MutationResponse",
            "requestId": self.request_id,
            "success": self.success,
            "result": _payload_json(self.result),
            "ts": None if self.ts is None else encode_ts(self.ts),
            "logLines": list(self.log_lines),
        }
        if self.error_data is not MISSING:
            data["errorData"] = _payload_json(self.error_data)
        return data

    @classmethod
    def from_json(cls, fields: Fields) -> MutationResponse:
        success = fields.boolean("success")
        return cls(
            request_id=fields.integer("requestId"),
            success=success,
            result=fields.required("result"),
            ts=fields.ts("ts") if success else None,
            log_lines=fields.strings("logLines"),
            error_data=_error_data(fields),
        )


@dataclass(frozen=True, slots=True)
class ActionResponse(JsonMessage):
    """§4.4: an action's outcome (no ts)."""

    request_id: int
    success: bool
    result: Payload
    log_lines: tuple[str, ...] = ()
    error_data: Payload | Missing = MISSING

    def to_json(self) -> dict[str, JSONValue]:
        data: dict[str, JSONValue] = {
            "type": "ActionResponse",
            "requestId": self.request_id,
            "success": self.success,
            "result": _payload_json(self.result),
            "logLines": list(self.log_lines),
        }
        if self.error_data is not MISSING:
            data["errorData"] = _payload_json(self.error_data)
        return data

    @classmethod
    def from_json(cls, fields: Fields) -> ActionResponse:
        return cls(
            request_id=fields.integer("requestId"),
            success=fields.boolean("success"),
            result=fields.required("result"),
            log_lines=fields.strings("logLines"),
            error_data=_error_data(fields),
        )


@dataclass(frozen=True, slots=True)
class AuthError(JsonMessage):
    """§4.5: the token was refused or expired; the server closes afterwards."""

    error: str
    base_version: int
    auth_update_attempted: bool

    def to_json(self) -> dict[str, JSONValue]:
        return {
            "type": "AuthError",
            "error": self.error,
            "baseVersion": self.base_version,
            "authUpdateAttempted": self.auth_update_attempted,
        }

    @classmethod
    def from_json(cls, fields: Fields) -> AuthError:
        return cls(
            error=fields.string("error"),
            base_version=fields.integer("baseVersion"),
            auth_update_attempted=fields.boolean("authUpdateAttempted"),
        )


@dataclass(frozen=True, slots=True)
class FatalError(JsonMessage):
    """§4.6: kills a JS client for good; never send it for a recoverable problem."""

    error: str

    def to_json(self) -> dict[str, JSONValue]:
        return {"type": "FatalError", "error": self.error}

    @classmethod
    def from_json(cls, fields: Fields) -> FatalError:
        return cls(error=fields.string("error"))


@dataclass(frozen=True, slots=True)
class Ping:
    """§4.7: keeps the JS client's 60 s inactivity timer from firing."""

    def to_json(self) -> dict[str, JSONValue]:
        return {"type": "Ping"}

    def serialize(self) -> str:
        return '{"type":"Ping"}'

    @classmethod
    def from_json(cls, fields: Fields) -> Ping:
        return cls()


@dataclass(frozen=True, slots=True)
class TransitionChunk(JsonMessage):
    """§4.2: one piece of a large Transition (JS clients only)."""

    chunk: str
    part_number: int
    total_parts: int
    transition_id: str

    def to_json(self) -> dict[str, JSONValue]:
        return {
            "type": "TransitionChunk",
            "chunk": self.chunk,
            "partNumber": self.part_number,
            "totalParts": self.total_parts,
            "transitionId": self.transition_id,
        }

    @classmethod
    def from_json(cls, fields: Fields) -> TransitionChunk:
        return cls(
            chunk=fields.string("chunk"),
            part_number=fields.integer("partNumber"),
            total_parts=fields.integer("totalParts"),
            transition_id=fields.string("transitionId"),
        )


ServerMessage: TypeAlias = (
    Transition | MutationResponse | ActionResponse | AuthError | FatalError | Ping | TransitionChunk
)

_PARSERS: dict[str, Callable[[Fields], ServerMessage]] = {
    "Transition": Transition.from_json,
    "MutationResponse": MutationResponse.from_json,
    "ActionResponse": ActionResponse.from_json,
    "AuthError": AuthError.from_json,
    "FatalError": FatalError.from_json,
    "Ping": Ping.from_json,
    "TransitionChunk": TransitionChunk.from_json,
}


def parse_server_message(text: str | bytes) -> ServerMessage:
    """Parse one server-to-client text frame.

    Raises:
        RemoteProtocolError: malformed JSON, a non-object, an unknown ``type``,
            or a missing or ill-typed field (the message names it).
    """
    return parse_tagged(text, _PARSERS, "server")
