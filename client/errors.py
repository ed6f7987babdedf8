"""Every exception the livesync client raises.

    ClientError                     base: anything the client reports to its caller
    ├── FunctionError               a query, mutation or action failed on the server
    │   └── AppError                the function raised AppError; `.data` carries its payload
    ├── ConnectionLost              an action was in flight when the socket dropped
    │                               (actions are not idempotent, so they are not re-sent)
    ├── ClientClosed                the client was closed while the call was waiting
    ├── RequestTimeout              a blocking call did not finish within its timeout
    ├── ArgumentEncodeError         arguments have no Convex encoding
    ├── ServerProtocolError         the server sent something the protocol forbids
    └── TransportError              HTTP or WebSocket transport failure (HTTP API calls)

websockets, json and httpx exceptions never reach the caller: the client maps
them to these types at the boundary where it calls those libraries.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "AppError",
    "ArgumentEncodeError",
    "ClientClosed",
    "ClientError",
    "ConnectionLost",
    "FunctionError",
    "RequestTimeout",
    "ServerProtocolError",
    "TransportError",
]


class ClientError(Exception):
    """Base class of every exception the livesync client raises."""


class FunctionError(ClientError):
    """A server function failed; the message is the server's error message.

    Attributes:
        path: the function path the caller used, when known.
        message: the server's error message.
    """

    def __init__(self, message: str, *, path: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.path = path

    def __str__(self) -> str:
        if self.path is None:
            return self.message
        return f"{self.path}: {self.message}"


class AppError(FunctionError):
    """The function raised ``AppError``; ``data`` is the decoded payload it carried."""

    def __init__(self, message: str, data: Any, *, path: str | None = None) -> None:
        super().__init__(message, path=path)
        self.data = data


class ConnectionLost(ClientError):
    """The connection dropped while a request that cannot be retried was in flight."""


class ClientClosed(ClientError):
    """The client was closed (or never opened) while the call was waiting."""


class RequestTimeout(ClientError):
    """A call did not complete within the requested timeout."""


class ArgumentEncodeError(ClientError, ValueError):
    """Arguments contain a value that cannot be sent as a Convex value."""


class ServerProtocolError(ClientError):
    """The server broke the sync protocol (or sent an undecodable value)."""


class TransportError(ClientError):
    """The HTTP or WebSocket transport failed (refused, reset, bad status)."""
