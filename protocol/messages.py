"""Every wire message in one import: client messages, server messages, parsers.

The classes live in :mod:`protocol.client_messages` and
:mod:`protocol.server_messages`; this module is the stable place to import
them from.
"""

from __future__ import annotations

from protocol.client_messages import (
    Action,
    Authenticate,
    ClientMessage,
    Connect,
    Event,
    ModifyQuerySet,
    Mutation,
    QuerySetAdd,
    QuerySetModification,
    QuerySetRemove,
    TokenType,
    parse_client_message,
)
from protocol.server_messages import (
    MISSING,
    ActionResponse,
    AuthError,
    FatalError,
    Missing,
    MutationResponse,
    Ping,
    QueryFailed,
    QueryRemoved,
    QueryUpdated,
    ServerMessage,
    StateModification,
    Transition,
    TransitionChunk,
    parse_server_message,
)

__all__ = [
    "MISSING",
    "Action",
    "ActionResponse",
    "AuthError",
    "Authenticate",
    "ClientMessage",
    "Connect",
    "Event",
    "FatalError",
    "Missing",
    "ModifyQuerySet",
    "Mutation",
    "MutationResponse",
    "Ping",
    "QueryFailed",
    "QueryRemoved",
    "QuerySetAdd",
    "QuerySetModification",
    "QuerySetRemove",
    "QueryUpdated",
    "ServerMessage",
    "StateModification",
    "TokenType",
    "Transition",
    "TransitionChunk",
    "parse_client_message",
    "parse_server_message",
]
