"""uvicorn's sans-I/O WebSocket protocol with one ASGI extension added.

The extension, `scope["extensions"]["livesync.direct"]`, is a `Direct`
object. Through it the app may

- write a text frame synchronously when the socket can take it at once. When
  a commit wakes a thousand subscribers of one query, the engine re-runs it
  once and every connection writes its Transition in that same pass, as a
  bare `websockets.broadcast` does, instead of each waking a task to await
  `send`. Such frames go through the loop's `Outbox`, which writes them to
  their sockets in runs of `OUTBOX_BATCH`, or at the start of the loop's next
  pass if fewer are waiting (see `Outbox` for why);
- take incoming messages by callback. Each then costs one parse and one call
  instead of a queue hop, a task wake-up and a pause and resume of reading
  (two `epoll_ctl` calls) per message. The callback's owner bounds its own
  backlog, as the ASGI loop feeding it did.

Disconnects still arrive through `receive()`. Under another ASGI server the
extension is absent and the app uses `send` and `receive` as usual.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from uvicorn.protocols.utils import ClientDisconnected
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.exceptions import InvalidState
from websockets.http11 import Request
from websockets.protocol import State

if TYPE_CHECKING:
    from uvicorn._types import ASGISendEvent

__all__ = ["EXTENSION", "OUTBOX_BATCH", "Direct", "LivesyncWebSocketProtocol", "Outbox", "Receiver"]

EXTENSION = "livesync.direct"

Receiver = Callable[[str | bytes], None]


class Direct:
    """Synchronous sends and callback receives on one WebSocket."""

    __slots__ = ("_protocol",)

    def __init__(self, protocol: LivesyncWebSocketProtocol) -> None:
        self._protocol = protocol

    def ready(self) -> bool:
        """True when `send_text` may be called: open, accepted, not closing,
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

    def closed(self) -> bool:
        """True once the socket is closing or gone: nothing more can be sent."""
        p = self._protocol
        return p.close_sent or p.disconnected or p.transport.is_closing()

    def pause_reading(self, paused: bool) -> None:
        """Stop or resume reading the socket (the receiver's backlog is full
        or drained). uvicorn's own pause, for its queue, is left alone."""
        p = self._protocol
        if paused == p.direct_paused or p.transport.is_closing():
            return
        p.direct_paused = paused
        if paused:
            p.transport.pause_reading()
        elif not p.read_paused:
            p.transport.resume_reading()

    def abort(self) -> None:
        """Drop the connection now, discarding unsent data."""
        self._protocol.transport.abort()

    def send_text(self, text: str) -> None:
        """Frame `text` now for the outbox to write; only call after `ready()`
        said yes."""
        p = self._protocol
        conn = p.conn
        data = text.encode()
        first = not p.pending
        if (
            conn.extensions
            or conn.debug
            or conn.state is not State.OPEN
            or conn.expect_continuation_frame
        ):
            # Compression, debug logging and every error are websockets' to handle.
            try:
                conn.send_text(data)
            except InvalidState:
                raise ClientDisconnected() from None
            p.pending += conn.data_to_send()
        else:
            # A final, unmasked text frame, framed here: websockets' Frame and
            # serializer cost several times more for the same bytes.
            p.pending += (_text_header(len(data)), data)
        if first:
            p.outbox.add(p)

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


def _text_header(length: int) -> bytes:
    # RFC 6455 §5.2: FIN + opcode 1, then a 7-bit, 16-bit or 64-bit length.
    if length < 126:
        return bytes((0x81, length))
    if length < 65536:
        return b"\x81\x7e" + length.to_bytes(2, "big")
    return b"\x81\x7f" + length.to_bytes(8, "big")


OUTBOX_BATCH = 16


class Outbox:
    """Frames sent through `Direct`, written in runs rather than one by one.

    On loopback, and with any client that sleeps between frames, each write
    to a socket whose reader is asleep pays for waking it (an interprocessor
    interrupt on a VM), which made a single 300-byte write cost as much as
    an RS256 check. Written in runs, the reader is still awake for the rest
    of the run. A run is `OUTBOX_BATCH` sockets, or fewer at the start of
    the loop's next pass: not one whole pass, because in a fan-out the first
    subscribers would then wait for the last one's frame to be built. One
    per event loop; a socket's own frames stay in order (see
    `LivesyncWebSocketProtocol.flush_pending`)."""

    __slots__ = ("__weakref__", "_loop", "_scheduled", "_waiting")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._waiting: list[LivesyncWebSocketProtocol] = []
        self._scheduled = False

    @classmethod
    def of(cls, loop: asyncio.AbstractEventLoop) -> Outbox:
        outbox = _OUTBOXES.get(loop)
        if outbox is None:
            outbox = _OUTBOXES[loop] = cls(loop)
        return outbox

    def add(self, protocol: LivesyncWebSocketProtocol) -> None:
        """`protocol` has frames pending: write them with the current run."""
        waiting = self._waiting
        waiting.append(protocol)
        if len(waiting) >= OUTBOX_BATCH:
            self._flush()
        elif not self._scheduled:
            self._scheduled = True
            self._loop.call_soon(self._next_pass)

    def _next_pass(self) -> None:
        self._scheduled = False
        self._flush()

    def _flush(self) -> None:
        waiting, self._waiting = self._waiting, []
        for protocol in waiting:
            protocol.flush_pending()


_OUTBOXES: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Outbox] = (
    weakref.WeakKeyDictionary()
)


class LivesyncWebSocketProtocol(WebSocketsSansIOProtocol):
    """Pass as uvicorn's `ws`; adds the `livesync.direct` extension."""

    receiver: Receiver | None = None
    direct_paused = False  # reading paused through Direct.pause_reading

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.pending: list[bytes] = []  # framed by Direct.send_text, not yet written
        self.outbox = Outbox.of(self.loop)

    def flush_pending(self) -> None:
        """Write the frames `Direct` queued. Also called before anything else
        this socket writes (an ASGI send, and whatever uvicorn answers to
        incoming data: a pong, a close), so frames leave in the order made."""
        data = b"".join(self.pending)
        self.pending.clear()
        if data and not self.transport.is_closing():
            self.transport.write(data)

    def data_received(self, data: bytes) -> None:
        if self.pending:
            self.flush_pending()
        super().data_received(data)

    async def send(self, message: ASGISendEvent) -> None:
        if self.pending:
            self.flush_pending()
        await super().send(message)

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
