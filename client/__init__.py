"""The livesync Python client: async :class:`Client` and blocking :class:`SyncClient`."""

from __future__ import annotations

from client.async_client import Client
from client.errors import (
    AppError,
    ArgumentEncodeError,
    ClientClosed,
    ClientError,
    ConnectionLost,
    FunctionError,
    RequestTimeout,
    ServerProtocolError,
    TransportError,
)
from client.subscription import Subscription
from client.sync_client import SyncClient, SyncSubscription
from protocol import AuthState
from protocol.values import Int64

__all__ = [
    "AppError",
    "ArgumentEncodeError",
    "AuthState",
    "Client",
    "ClientClosed",
    "ClientError",
    "ConnectionLost",
    "FunctionError",
    "Int64",
    "RequestTimeout",
    "ServerProtocolError",
    "Subscription",
    "SyncClient",
    "SyncSubscription",
    "TransportError",
]
