"""uvicorn's sans-I/O WebSocket protocol with one ASGI extension added.

The extension, `scope["extensions"]["livesync.direct"]`, is a `Direct`
object. Through it the app may

- write a text frame synchronously when the socket can take it at once. When
  a commit wakes a thousand subscribers of one query, the engine re-runs it
  once and every connection writes its Transition in that same pass, as a
  bare `websockets.broadcast` does, instead of each waking a task to await
  `send`;
- take incoming messages by callback. Each then costs one parse and one call
  instead of a queue hop, a task wake-up and a pause and resume of reading
  (two `epoll_ctl` calls) per message. The callback's owner bounds its own
  backlog, as the ASGI loop feeding it did.

Disconnects still arrive through `receive()`. Under another ASGI server the
extension is absent and the app uses `send` and `receive` as usual.
"""

from __future__ import annotations

from collections.abc import Callable

from uvicorn.protocols.utils import ClientDisconnected
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.exceptions import InvalidState
from websockets.http11 import Request

__all__ = ["EXTENSION", "Direct", "LivesyncWebSocketProtocol", "Receiver"]

EXTENSION = "livesync.direct"

Receiver = Callable[[str | bytes], None]


class Direct:
    """Synchronous sends and callback receives on one WebSocket."""

    __slots__ = ("_protocol",)

    def __init__(self, protocol: LivesyncWebSocketProtocol) -> None:
        self._protocol = protocol

    def ready(self) -> bool:
        """True when `send` would write at once: open, accepted, not closing,
        and the transport's buffer below its high-water mark."""
        p = self._protocol
        return (
            p.handshake_complete
            and p.writable.is_set()
            and not p.close_sent
            and not p.disconnected
            and p.initial_response is None
            and not p.transport.is_closing()
        )

    def send_text(self, text: str) -> None:
        """Frame and write `text`; only call after `ready()` said yes."""
        p = self._protocol
        try:
            p.conn.send_text(text.encode())
        except InvalidState:
            raise ClientDisconnected() from None
        p.transport.write(b"".join(p.conn.data_to_send()))

    def deliver_to(self, receiver: Receiver) -> None:
        """From now on hand every received message to `receiver`, starting
        with any already waiting in the queue for `receive()`."""
        p = self._protocol
        queue = p.queue
        kept = []
        while not queue.empty():
            message = queue.get_nowait()
            if message["type"] == "websocket.receive":
                text = message.get("text")
                receiver(text if text is not None else message.get("bytes") or b"")
            else:
                kept.append(message)
        for message in kept:
            queue.put_nowait(message)
        p.receiver = receiver
        if p.read_paused:
            p.read_paused = False
            p.transport.resume_reading()


class LivesyncWebSocketProtocol(WebSocketsSansIOProtocol):
    """Pass as uvicorn's `ws`; adds the `livesync.direct` extension."""

    receiver: Receiver | None = None

    def handle_connect(self, event: Request) -> None:
        super().handle_connect(event)
        # The ASGI task was only created above, not started: the scope it
        # will read can still gain the extension.
        scope = getattr(self, "scope", None)
        if scope is not None:
            scope["extensions"][EXTENSION] = Direct(self)

    def connection_lost(self, exc: Exception | None) -> None:
        super().connection_lost(exc)
        # Drop the references that make this protocol, the extension and the
        # app's connection a cycle, so they go by reference counting rather
        # than waiting for a full GC pass (see server/gcpolicy.py).
        self.receiver = None
        scope = getattr(self, "scope", None)
        if scope is not None:
            scope["extensions"].pop(EXTENSION, None)

    def send_receive_event_to_app(self) -> None:
        receiver = self.receiver
        if receiver is None or self.close_sent:
            super().send_receive_event_to_app()
            return
        data = self.frames[0] if len(self.frames) == 1 else b"".join(self.frames)
        self.frames = []
        if self.curr_msg_data_type == "bytes":
            receiver(data)
            return
        try:
            text = data.decode()
        except UnicodeDecodeError:
            # As uvicorn does: close with 1007 (invalid payload data).
            self.logger.info("Invalid UTF-8 sequence received from client.")
            self.conn.send_close(1007)
            self.handle_parser_exception()
            return
        receiver(text)
