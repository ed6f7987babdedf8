"""A bare Convex-protocol WebSocket, for tests that must see every frame the server sends.

No client library sits in between: tests send the exact messages they mean
(an Authenticate and a ModifyQuerySet back to back, a Mutation after exp) and
read Transitions, AuthErrors and the close frame as they arrive. Pings are
skipped. Every read has a deadline.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from tests.helpers.timeouts import READ

__all__ = ["RawSyncSocket", "add_query", "identity_version"]


def add_query(query_id: int, udf_path: str, args: dict[str, Any] | None = None) -> dict[str, Any]:
    """One `Add` modification of a ModifyQuerySet."""
    return {"type": "Add", "queryId": query_id, "udfPath": udf_path, "args": [args or {}]}


class RawSyncSocket:
    """One sync socket; `open()` connects and sends Connect."""

    def __init__(self, ws_url: str, session_id: str | None = None) -> None:
        self.ws_url = ws_url
        self.session_id = session_id or str(uuid.uuid4())
        self.received: list[dict[str, Any]] = []
        self._ws: ClientConnection | None = None
        self._query_set = 0
        self._identity = 0
        self._request_id = 0

    async def open(self) -> RawSyncSocket:
        self._ws = await connect(self.ws_url, open_timeout=READ)
        await self.send(
            {
                "type": "Connect",
                "sessionId": self.session_id,
                "connectionCount": 0,
                "lastCloseReason": "InitialConnect",
                "clientTs": 0,
            }
        )
        return self

    async def close(self) -> None:
        if self._ws is not None:
            await self._ws.close()

    @property
    def ws(self) -> ClientConnection:
        if self._ws is None:
            raise RuntimeError("open() the socket first")
        return self._ws

    async def send(self, message: dict[str, Any]) -> None:
        await self.ws.send(json.dumps(message))

    async def authenticate(self, token: str | None) -> None:
        """Authenticate with `token`, or tokenType None; tracks baseVersion like a client."""
        message: dict[str, Any] = {"type": "Authenticate", "baseVersion": self._identity}
        message |= {"tokenType": "User", "value": token} if token else {"tokenType": "None"}
        self._identity += 1
        await self.send(message)

    async def modify(self, *modifications: dict[str, Any]) -> None:
        base, self._query_set = self._query_set, self._query_set + 1
        await self.send(
            {
                "type": "ModifyQuerySet",
                "baseVersion": base,
                "newVersion": self._query_set,
                "modifications": list(modifications),
            }
        )

    async def mutation(self, udf_path: str, args: dict[str, Any] | None = None) -> int:
        """Send a Mutation; returns its requestId."""
        request_id, self._request_id = self._request_id, self._request_id + 1
        await self.send(
            {"type": "Mutation", "requestId": request_id, "udfPath": udf_path, "args": [args or {}]}
        )
        return request_id

    async def next(self, timeout: float = READ) -> dict[str, Any]:
        """The next non-Ping message; raises ConnectionClosed once the server closed."""
        async with asyncio.timeout(timeout):
            while True:
                message = json.loads(await self.ws.recv())
                if message.get("type") != "Ping":
                    self.received.append(message)
                    return dict(message)

    async def next_of(self, kind: str, timeout: float = READ) -> dict[str, Any]:
        """Skip ahead to the next message of type `kind`."""
        async with asyncio.timeout(timeout):
            while True:
                message = await self.next(timeout)
                if message["type"] == kind:
                    return message

    async def closed(self, timeout: float = READ) -> tuple[int | None, list[str]]:
        """Wait for the server's close; returns its code and the types of frames read first."""
        seen: list[str] = []
        try:
            async with asyncio.timeout(timeout):
                while True:
                    seen.append((await self.next(timeout))["type"])
        except ConnectionClosed as closed:
            received = closed.rcvd
            return (received.code if received is not None else None), seen


def identity_version(transition: dict[str, Any]) -> tuple[int, int]:
    """(start, end) identity versions of a Transition."""
    return transition["startVersion"]["identity"], transition["endVersion"]["identity"]
