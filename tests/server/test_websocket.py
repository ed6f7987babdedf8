"""The `livesync.send_now` extension on a real uvicorn socket."""

from __future__ import annotations

import asyncio
import gc
import weakref
from typing import Any

import websockets
from websockets.exceptions import ConnectionClosed

from server.websocket import EXTENSION, LivesyncWebSocketProtocol
from tests.helpers.asgi_server import serve_asgi

TIMEOUT = 10.0


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


async def _frames(url: str) -> list[str]:
    got: list[str] = []
    async with websockets.connect(url.replace("http", "ws", 1) + "/") as ws:
        try:
            while True:
                got.append(str(await asyncio.wait_for(ws.recv(), TIMEOUT)))
        except ConnectionClosed:
            return got


async def test_direct_sends_are_offered_only_while_the_socket_takes_frames() -> None:
    probe = _Probe()
    async with serve_asgi(probe, ws=LivesyncWebSocketProtocol, lifespan="off") as url:
        frames = await _frames(url)
        await asyncio.wait_for(probe.done.wait(), TIMEOUT)
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
        await asyncio.wait_for(probe.done.wait(), TIMEOUT)
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
        if scope["type"] != "websocket":
            return
        await receive()  # websocket.connect
        await send({"type": "websocket.accept"})
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
        answer = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), TIMEOUT)
        assert answer.startswith(b"HTTP/1.1 101")
        writer.write(_masked_text_frame("one") + _masked_text_frame("two"))
        await writer.drain()
        writer.write(_masked_text_frame("three"))
        writer.write(bytes([0x88, 0x82, 1, 2, 3, 4, 0x03 ^ 1, 0xE8 ^ 2]))  # close 1000
        await writer.drain()
        await asyncio.wait_for(done.wait(), TIMEOUT)
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
        if scope["type"] != "websocket":
            return
        await receive()
        await send({"type": "websocket.accept"})
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
            await asyncio.wait_for(app.done.wait(), TIMEOUT)
        assert app.got == ["hello"]
        assert app.sink is not None and app.sink() is None
    finally:
        gc.enable()
