"""livesync's Sans-I/O core: the Convex sync protocol without any I/O.

Wire messages (:mod:`protocol.messages`), the Convex value codec
(:mod:`protocol.values`), timestamps and state versions, function path
canonicalisation, and the per-connection server state machine
(:mod:`protocol.session`). Nothing here touches a socket, a clock or a
database; ``server/`` and ``client/`` do that.
"""

from __future__ import annotations

from protocol.errors import (
    LocalProtocolError,
    ProtocolError,
    RemoteProtocolError,
    ValueDecodeError,
    ValueEncodeError,
)
from protocol.messages import (
    MISSING,
    Action,
    ActionResponse,
    Authenticate,
    AuthError,
    ClientMessage,
    Connect,
    Event,
    FatalError,
    Missing,
    ModifyQuerySet,
    Mutation,
    MutationResponse,
    Ping,
    QueryFailed,
    QueryRemoved,
    QuerySetAdd,
    QuerySetModification,
    QuerySetRemove,
    QueryUpdated,
    ServerMessage,
    StateModification,
    TokenType,
    Transition,
    TransitionChunk,
    parse_client_message,
    parse_server_message,
)
from protocol.paths import canonicalize_udf_path
from protocol.session import (
    TRANSITIONS,
    AuthState,
    Phase,
    QuerySetChange,
    QuerySpec,
    ServerSession,
)
from protocol.timestamps import MAX_TS, decode_ts, encode_ts
from protocol.values import (
    Int64,
    JSONValue,
    RawJSON,
    Value,
    canonical_json,
    decode,
    decode_args,
    dumps,
    encode,
    encode_args,
)
from protocol.versions import StateVersion

__all__ = [
    "MAX_TS",
    "MISSING",
    "TRANSITIONS",
    "Action",
    "ActionResponse",
    "AuthError",
    "AuthState",
    "Authenticate",
    "ClientMessage",
    "Connect",
    "Event",
    "FatalError",
    "Int64",
    "JSONValue",
    "LocalProtocolError",
    "Missing",
    "ModifyQuerySet",
    "Mutation",
    "MutationResponse",
    "Phase",
    "Ping",
    "ProtocolError",
    "QueryFailed",
    "QueryRemoved",
    "QuerySetAdd",
    "QuerySetChange",
    "QuerySetModification",
    "QuerySetRemove",
    "QuerySpec",
    "QueryUpdated",
    "RawJSON",
    "RemoteProtocolError",
    "ServerMessage",
    "ServerSession",
    "StateModification",
    "StateVersion",
    "TokenType",
    "Transition",
    "TransitionChunk",
    "Value",
    "ValueDecodeError",
    "ValueEncodeError",
    "canonical_json",
    "canonicalize_udf_path",
    "decode",
    "decode_args",
    "decode_ts",
    "dumps",
    "encode",
    "encode_args",
    "encode_ts",
    "parse_client_message",
    "parse_server_message",
]
