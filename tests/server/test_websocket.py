"""The `livesync.direct` extension and the outbox on a real uvicorn socket."""

from __future__ import annotations

import asyncio
import gc
import weakref
from typing import Any

import websockets
import websockets.protocol
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.exceptions import ConnectionClosed

from server.websocket import EXTENSION, OUTBOX_BATCH, LivesyncWebSocketProtocol, Outbox
from tests.helpers.asgi_server import serve_asgi
from tests.helpers.timeouts import REPLY


class _Probe:
    """An ASGI app that records what the extension says at each step."""

    def __init__(self) -> None:
        self.seen: dict[str, Any] = {}
        self.done = asyncio.Event()

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "websocket":
            return
        direct = scope["extensions"].get(EXTENSION)
        self.seen["present"] = direct is not None
        await receive()  # websocket.connect
        if direct is not None:
            self.seen["before accept"] = direct.ready()
        await send({"type": "websocket.accept"})
        if direct is not None:
            self.seen["after accept"] = direct.ready()
            direct.send_text("written directly")
        await send({"type": "websocket.send", "text": "awaited"})
        await send({"type": "websocket.close", "code": 1000, "reason": "bye"})
        if direct is not None:
            self.seen["after close"] = direct.ready()
        self.done.set()


async def _accepted(scope: Any, receive: Any, send: Any) -> bool:
    """Accept a WebSocket scope; False for any other (lifespan, HTTP)."""
    if scope["type"] != "websocket":
        return False
    await receive()  # websocket.connect
    await send({"type": "websocket.accept"})
    return True


async def _frames(url: str) -> list[str]:
    got: list[str] = []
    async with websockets.connect(url.replace("http", "ws", 1) + "/") as ws:
        try:
            while True:
                got.append(str(await asyncio.wait_for(ws.recv(), REPLY)))
        except ConnectionClosed:
            return got


async def test_direct_sends_are_offered_only_while_the_socket_takes_frames() -> None:
    probe = _Probe()
    async with serve_asgi(probe, ws=LivesyncWebSocketProtocol, lifespan="off") as url:
        frames = await _frames(url)
        await asyncio.wait_for(probe.done.wait(), REPLY)
    assert probe.seen == {
        "present": True,
        "before accept": False,
        "after accept": True,
        "after close": False,
    }
    # Direct and awaited sends share one stream, in call order.
    assert frames == ["written directly", "awaited"]


async def test_plain_uvicorn_offers_no_direct_sends() -> None:
    probe = _Probe()
    async with serve_asgi(probe, ws="websockets-sansio", lifespan="off") as url:
        assert await _frames(url) == ["awaited"]
        await asyncio.wait_for(probe.done.wait(), REPLY)
    assert probe.seen == {"present": False}


def _masked_text_frame(text: str) -> bytes:
    payload = text.encode()
    assert len(payload) < 126
    mask = b"\x01\x02\x03\x04"
    body = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    return bytes([0x81, 0x80 | len(payload)]) + mask + body


async def test_a_receiver_gets_queued_messages_first_then_the_rest_in_order() -> None:
    received: list[str | bytes] = []
    done = asyncio.Event()

    async def app(scope: Any, receive: Any, send: Any) -> None:
        if not await _accepted(scope, receive, send):
            return
        first = await receive()
        received.append(first["text"])
        # "two" came in the same TCP segment as "one", so it already waits in
        # uvicorn's queue (and "three" may too): the receiver gets them first,
        # in order, and receive() is left with the disconnect.
        scope["extensions"][EXTENSION].deliver_to(received.append)
        message = await receive()
        received.append(message["type"])
        done.set()

    async with serve_asgi(app, ws=LivesyncWebSocketProtocol, lifespan="off") as url:
        port = int(url.rsplit(":", 1)[1])
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(
            b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
            b"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
            b"Sec-WebSocket-Version: 13\r\n\r\n"
        )
        answer = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), REPLY)
        assert answer.startswith(b"HTTP/1.1 101")
        writer.write(_masked_text_frame("one") + _masked_text_frame("two"))
        await writer.drain()
        writer.write(_masked_text_frame("three"))
        writer.write(bytes([0x88, 0x82, 1, 2, 3, 4, 0x03 ^ 1, 0xE8 ^ 2]))  # close 1000
        await writer.drain()
        await asyncio.wait_for(done.wait(), REPLY)
        writer.close()
    assert received == ["one", "two", "three", "websocket.disconnect"]


class _Sink:
    def __init__(self) -> None:
        self.got: list[str | bytes] = []

    def take(self, message: str | bytes) -> None:
        self.got.append(message)


class _Deliverer:
    """An ASGI app that takes messages by callback into a `_Sink` it lets go of."""

    def __init__(self) -> None:
        self.sink: weakref.ref[_Sink] | None = None
        self.got: list[str | bytes] = []
        self.done = asyncio.Event()

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if not await _accepted(scope, receive, send):
            return
        sink = _Sink()
        self.sink, self.got = weakref.ref(sink), sink.got
        scope["extensions"][EXTENSION].deliver_to(sink.take)
        while (await receive())["type"] != "websocket.disconnect":
            pass
        self.done.set()


async def test_a_closed_socket_frees_its_receiver_without_a_gc_pass() -> None:
    app = _Deliverer()
    gc.disable()
    try:
        async with serve_asgi(app, ws=LivesyncWebSocketProtocol, lifespan="off") as url:
            async with websockets.connect(url.replace("http", "ws", 1) + "/") as ws:
                await ws.send("hello")
            await asyncio.wait_for(app.done.wait(), REPLY)
        assert app.got == ["hello"]
        assert app.sink is not None and app.sink() is None
    finally:
        gc.enable()


class _Broadcaster:
    """Once `sockets` are open, sends each three direct frames in one pass of
    the loop, then an awaited one, then closes."""

    def __init__(self, sockets: int) -> None:
        self.sockets = sockets
        self.directs: list[Any] = []
        self.all_open = asyncio.Event()

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if not await _accepted(scope, receive, send):
            return
        index = len(self.directs)
        self.directs.append(scope["extensions"][EXTENSION])
        if len(self.directs) == self.sockets:
            for i, direct in enumerate(self.directs):
                for k in range(3):
                    direct.send_text(f"{i}:{k}")
            self.all_open.set()
        await self.all_open.wait()
        await send({"type": "websocket.send", "text": f"{index}:end"})
        await send({"type": "websocket.close", "code": 1000, "reason": ""})


async def test_direct_frames_of_one_pass_reach_every_socket_in_the_order_sent() -> None:
    sockets = 2 * OUTBOX_BATCH + 3  # two full runs and a partial one
    app = _Broadcaster(sockets)
    async with serve_asgi(app, ws=LivesyncWebSocketProtocol, lifespan="off") as url:
        got = await asyncio.gather(*(_frames(url) for _ in range(sockets)))
    by_index = sorted(got, key=lambda frames: int(frames[0].split(":")[0]))
    assert by_index == [[f"{i}:0", f"{i}:1", f"{i}:2", f"{i}:end"] for i in range(sockets)]


class _Pending:
    def __init__(self, name: int, log: list[int], last: asyncio.Future[None] | None) -> None:
        self.name, self.log, self.last = name, log, last

    def flush_pending(self) -> None:
        self.log.append(self.name)
        if self.last is not None:
            self.last.set_result(None)


async def test_the_outbox_writes_a_full_run_at_once_and_the_rest_at_the_next_pass() -> None:
    loop = asyncio.get_running_loop()
    outbox = Outbox(loop)
    written: list[int] = []
    for n in range(OUTBOX_BATCH):
        outbox.add(_Pending(n, written, None))  # type: ignore[arg-type]
    assert written == list(range(OUTBOX_BATCH))  # the run was written when it filled

    last: asyncio.Future[None] = loop.create_future()
    outbox.add(_Pending(100, written, None))  # type: ignore[arg-type]
    outbox.add(_Pending(101, written, last))  # type: ignore[arg-type]
    assert written == list(range(OUTBOX_BATCH))  # a partial run waits for the next pass
    await asyncio.wait_for(last, REPLY)
    assert written[OUTBOX_BATCH:] == [100, 101]
    assert Outbox.of(loop) is Outbox.of(loop)


class _Sizes:
    """Sends one direct frame of each length class, then closes."""

    texts = ["", "a" * 125, "b" * 126, "é" * 40_000, "c" * 65_535, "d" * 65_536, "e" * 70_000]

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if not await _accepted(scope, receive, send):
            return
        direct = scope["extensions"][EXTENSION]
        for text in self.texts:
            direct.send_text(text)
        await send({"type": "websocket.close", "code": 1000, "reason": ""})


async def test_direct_frames_of_every_length_arrive_whole_with_and_without_compression() -> None:
    app = _Sizes()
    async with serve_asgi(app, ws=LivesyncWebSocketProtocol, lifespan="off") as url:
        uri = url.replace("http", "ws", 1) + "/"
        for compression in (None, "deflate"):
            got: list[str] = []
            async with websockets.connect(uri, compression=compression, max_size=None) as ws:
                assert bool(ws.protocol.extensions) is (compression is not None)
                try:
                    while True:
                        got.append(str(await asyncio.wait_for(ws.recv(), REPLY)))
                except ConnectionClosed:
                    pass
            assert got == app.texts


# What `server.websocket` reads or calls on uvicorn's sans-I/O protocol; if
# uvicorn renames or retypes one, this fails before the behaviour tests do.
_UVICORN_STATE = {
    "handshake_complete": bool,
    "close_sent": bool,
    "disconnected": bool,
    "read_paused": bool,
    "writable": asyncio.Event,
    "queue": asyncio.Queue,
    "transport": asyncio.Transport,
    "frames": list,
    "scope": dict,
}
_UVICORN_METHODS = (
    "data_received",
    "send",
    "handle_connect",
    "connection_lost",
    "send_receive_event_to_app",
    "handle_parser_exception",
)


async def test_uvicorn_still_has_the_protocol_state_the_extension_reads() -> None:
    seen: dict[str, Any] = {}

    async def app(scope: Any, receive: Any, send: Any) -> None:
        if not await _accepted(scope, receive, send):
            return
        protocol = scope["extensions"][EXTENSION]._protocol
        seen.update({name: getattr(protocol, name, None) for name in _UVICORN_STATE})
        seen["initial_response"] = protocol.initial_response
        seen["conn"] = protocol.conn
        seen["curr_msg_data_type"] = protocol.curr_msg_data_type
        await send({"type": "websocket.close", "code": 1000, "reason": ""})

    async with serve_asgi(app, ws=LivesyncWebSocketProtocol, lifespan="off") as url:
        await _frames(url)
    for name, kind in _UVICORN_STATE.items():
        assert isinstance(seen[name], kind), name
    assert seen["initial_response"] is None  # None once accepted
    assert isinstance(seen["conn"], websockets.protocol.Protocol)
    assert seen["curr_msg_data_type"] in ("text", "bytes")
    for name in _UVICORN_METHODS:
        assert name in vars(WebSocketsSansIOProtocol), name
