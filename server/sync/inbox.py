"""The frames a connection has received and not yet handled.

Each frame is parsed as it arrives (once: the loop never sees its text), and
kept with a bound on its UTF-8 size, which the call size limits need. A
frame that does not parse is kept as its error, in its place, so the loop
meets it in arrival order.

The inbox is bounded. Once a full message's worth waits, reading from the
socket pauses until the loop takes them (the loop may be stuck sending to a
client that does not read); frames already read still arrive, and past
`max_frames` or `max_bytes` the inbox overflows: it drops everything and the
loop closes the connection.
"""

from __future__ import annotations

from typing import NamedTuple

from protocol.client_messages import ClientMessage, parse_client_message
from protocol.errors import RemoteProtocolError
from server.limits import frame_size_bound
from server.sync.transport import Transport

__all__ = ["Inbox", "Received"]


class Received(NamedTuple):
    # An Exception in place of a frame that failed to parse: a ProtocolError
    # is the client's, anything else a bug of ours; the loop raises either.
    message: ClientMessage | Exception
    size: int  # at least the frame's UTF-8 size


def receive(frame: str | bytes) -> Received:
    """Parse one frame; never raises (the reader's callback calls this)."""
    if isinstance(frame, bytes):
        # Both clients only send text; a binary frame is a client bug to name plainly.
        error = RemoteProtocolError("binary frames are not supported; send JSON text frames")
        return Received(error, len(frame))
    try:
        message: ClientMessage | Exception = parse_client_message(frame)
    except Exception as exc:
        message = exc
    return Received(message, frame_size_bound(frame))


class Inbox:
    __slots__ = (
        "_bytes",
        "_max_bytes",
        "_max_frames",
        "_pause_at",
        "_paused",
        "_transport",
        "items",
        "overflowed",
    )

    def __init__(
        self, transport: Transport, max_frames: int, max_bytes: int, pause_at: int
    ) -> None:
        self._transport = transport
        self._max_frames = max_frames
        self._max_bytes = max_bytes
        self._pause_at = pause_at
        # A plain list: an idle connection should cost little (a deque is ~0.6 KB).
        # Read it, never change it: `take` empties it. A plain list, so an
        # emptiness check costs no Python call (one per push to a connection).
        self.items: list[Received] = []
        self._bytes = 0  # characters (or bytes) of the frames waiting
        self._paused = False
        self.overflowed = False

    def put(self, item: Received, frame_len: int) -> None:
        if self.overflowed:
            return
        self._bytes += frame_len
        if len(self.items) >= self._max_frames or self._bytes > self._max_bytes:
            self.items = []
            self.overflowed = True
            return
        self.items.append(item)
        if self._bytes > self._pause_at and not self._paused:
            self._paused = True
            self._transport.pause_reading(True)

    def take(self) -> list[Received]:
        items, self.items = self.items, []
        self._bytes = 0
        if self._paused:
            self._paused = False
            self._transport.pause_reading(False)
        return items
