"""The WebSocket under the client, with library exceptions mapped at the edge.

Everything the websockets library can raise (handshake failures, closed
connections, OS errors, timeouts) becomes :class:`~client.errors.TransportError`
here, so the rest of the client, and its callers, never see ``websockets.*``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import urlsplit, urlunsplit

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, WebSocketException

from client.errors import TransportError

__all__ = ["CLIENT_HEADER", "Transport", "http_base_url", "sync_url"]

logger = logging.getLogger("livesync.client.transport")

CLIENT_HEADER = "livesync-py-0.1.0"
# Frames bigger than this are refused by the library; query results of this
# size would be a bug in the app rather than something to stream.
MAX_FRAME_BYTES = 64 * 1024 * 1024

_SCHEMES = {"http": "ws", "https": "wss", "ws": "ws", "wss": "wss"}


def sync_url(url: str) -> str:
    """The sync WebSocket URL for a deployment URL (``http://h:p`` -> ``ws://h:p/api/sync``).

    Like the Rust/Python clients, the path is replaced and the query string kept.

    Raises:
        ValueError: the scheme is not http, https, ws or wss, or there is no host.
    """
    parts = urlsplit(url)
    scheme = _SCHEMES.get(parts.scheme.lower())
    if scheme is None or not parts.netloc:
        raise ValueError(f"livesync URL must be http(s):// or ws(s):// with a host, got {url!r}")
    return urlunsplit((scheme, parts.netloc, "/api/sync", parts.query, ""))


def http_base_url(url: str) -> str:
    """The HTTP origin for a deployment URL (``ws://h:p/x`` -> ``http://h:p``)."""
    parts = urlsplit(url)
    scheme = {"ws": "http", "wss": "https"}.get(parts.scheme.lower(), parts.scheme.lower())
    if scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"livesync URL must be http(s):// or ws(s):// with a host, got {url!r}")
    return urlunsplit((scheme, parts.netloc, "", "", ""))


@contextmanager
def _mapped(action: str) -> Iterator[None]:
    try:
        yield
    except ConnectionClosed as exc:
        raise TransportError(f"{action}: connection closed ({_close_text(exc)})") from exc
    except (WebSocketException, OSError, TimeoutError, EOFError) as exc:
        raise TransportError(f"{action}: {type(exc).__name__}: {exc}") from exc


class Transport:
    """One open sync WebSocket carrying text frames."""

    def __init__(self, connection: ClientConnection) -> None:
        self._connection = connection

    @classmethod
    async def open(cls, url: str, *, open_timeout: float) -> Transport:
        """Open the socket.

        Raises:
            TransportError: refused, handshake rejected, or timed out.
        """
        with _mapped(f"connecting to {url}"):
            connection = await connect(
                url,
                additional_headers={"Convex-Client": CLIENT_HEADER},
                compression=None,
                # Liveness is judged by our own inactivity timer on data frames
                # (the server sends JSON Pings), so library keepalive stays off.
                ping_interval=None,
                open_timeout=open_timeout,
                close_timeout=1.0,
                max_size=MAX_FRAME_BYTES,
            )
        return cls(connection)

    async def send(self, text: str) -> None:
        """Send one text frame.

        Raises:
            TransportError: the connection is closed.
        """
        with _mapped("sending"):
            await self._connection.send(text)

    async def recv(self) -> str:
        """Receive one text frame; binary frames are decoded as UTF-8.

        Raises:
            TransportError: the connection is closed or the frame is not UTF-8.
        """
        with _mapped("receiving"):
            frame = await self._connection.recv()
        if isinstance(frame, bytes):
            try:
                return frame.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise TransportError("received a binary frame that is not UTF-8") from exc
        return frame

    def close_reason(self) -> str | None:
        """The reason to report as ``lastCloseReason`` in the next Connect."""
        close = self._connection.protocol.close_rcvd
        if close is None:
            return None
        return close.reason or f"closed with code {close.code}"

    async def close(self) -> None:
        """Close politely, giving up quickly on a server that does not answer."""
        try:
            await asyncio.wait_for(self._connection.close(), timeout=1.0)
        except (WebSocketException, OSError, TimeoutError):
            self.abort()

    def abort(self) -> None:
        """Drop the TCP connection at once (used for a silent server)."""
        transport = self._connection.transport
        if transport is not None:
            transport.abort()


def _close_text(exc: ConnectionClosed) -> str:
    close = exc.rcvd
    if close is None:
        return "no close frame"
    return f"code {close.code}" + (f", {close.reason}" if close.reason else "")
