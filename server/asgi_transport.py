"""The sync connection's `Transport` over an ASGI WebSocket.

With uvicorn's `livesync.direct` extension (`server/websocket.py`) a frame
can be written at once, without a task switch, and reading can be paused;
over any other ASGI server sends go through the ASGI `send` callable and
the inbox's byte cap alone bounds what is queued.
"""

from __future__ import annotations

from collections.abc import Callable

from server.asgi import Send
from server.sync.transport import TransportClosed
from server.websocket import Direct

__all__ = ["AsgiTransport"]


def _never() -> bool:
    return False


def _no_direct_sends(text: str) -> None:
    raise RuntimeError("send_now without the livesync.direct extension")


class AsgiTransport:
    """A connection's transport. `ready` and `send_now` are the extension's
    own bound methods when it is there (a commit calls both once per
    subscriber), and refuse otherwise."""

    __slots__ = ("_direct", "_send", "ready", "send_now")

    def __init__(self, send: Send, direct: Direct | None) -> None:
        self._send = send
        self._direct = direct
        self.ready: Callable[[], bool] = direct.ready if direct is not None else _never
        self.send_now: Callable[[str], None] = (
            direct.send_text if direct is not None else _no_direct_sends
        )

    async def send_text(self, text: str) -> None:
        try:
            await self._send({"type": "websocket.send", "text": text})
        except OSError:
            # ASGI servers raise an OSError subclass (uvicorn's
            # ClientDisconnected) for a send on a closed connection.
            raise TransportClosed from None
        except RuntimeError:
            # uvicorn refuses a send after the client's close frame was
            # answered; that too is the client leaving.
            if self._direct is not None and self._direct.closed():
                raise TransportClosed from None
            raise

    async def close(self, code: int, reason: str) -> None:
        await self._send({"type": "websocket.close", "code": code, "reason": reason})

    def pause_reading(self, paused: bool) -> None:
        # Without the extension the byte cap alone bounds what is queued.
        if self._direct is not None:
            self._direct.pause_reading(paused)

    def abort(self) -> None:
        if self._direct is not None:
            self._direct.abort()
