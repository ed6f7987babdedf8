"""Clients that do not read: bounded input, a send deadline, and conflation.

The first test drives a `SyncConnection` over a recording transport whose
sends can be held, so what is queued can be inspected exactly; the others
use real sockets against an in-process server.
"""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import websockets

from server.config import ServerConfig
from server.functions.registry import FunctionRegistry
from server.functions.runner import FunctionRunner
from server.metrics import Metrics
from server.store.sqlite import SqliteStore
from server.sync.connection import SyncConnection
from server.sync.engine import Engine
from tests.helpers.timeouts import REPLY
from tests.server.sync.test_connection import (
    Peer,
    Served,
    query_mods,
    served,  # noqa: F401 (the fixture, used below)
    serving,
)

__all__: list[str] = []

FUNCTIONS = Path(__file__).parent / "functions"
KiB = 1024


class HeldTransport:
    """Never ready for direct sends; `send_text` waits until `release()`."""

    def __init__(self) -> None:
        self.sent: list[str] = []
        self.paused: list[bool] = []
        self.closed: tuple[int, str] | None = None
        self.aborted = False
        self.sending = asyncio.Event()
        self._released = asyncio.Event()

    def ready(self) -> bool:
        return False

    def send_now(self, text: str) -> None:
        raise AssertionError("never ready")

    async def send_text(self, text: str) -> None:
        self.sending.set()
        await self._released.wait()
        self.sent.append(text)

    def release(self) -> None:
        self._released.set()

    async def close(self, code: int, reason: str) -> None:
        self.closed = (code, reason)

    def pause_reading(self, paused: bool) -> None:
        self.paused.append(paused)

    def abort(self) -> None:
        self.aborted = True


@pytest.fixture
async def engine(tmp_path: Path) -> AsyncIterator[Engine]:
    registry = FunctionRegistry.load(FUNCTIONS)
    store = SqliteStore(tmp_path / "bp.db")
    await store.open(registry.index_defs())
    yield Engine(store, FunctionRunner(registry, store), Metrics())
    await store.close()


def _event(size: int) -> str:
    return json.dumps({"type": "Event", "eventType": "x", "event": "e" * size})


CONNECT = json.dumps(
    {
        "type": "Connect",
        "sessionId": "0b0e5f4c-1d1e-4a8e-9a47-5f0f3a7e2c11",
        "connectionCount": 0,
        "lastCloseReason": "InitialConnect",
        "clientTs": 0,
    }
)
EMPTY_QUERY_SET = json.dumps(
    {"type": "ModifyQuerySet", "baseVersion": 0, "newVersion": 1, "modifications": []}
)


async def test_input_behind_a_stuck_send_pauses_reading_then_is_capped_in_bytes(
    engine: Engine,
) -> None:
    transport = HeldTransport()
    config = ServerConfig(max_message_bytes=64 * KiB, max_inbox_bytes=256 * KiB)
    conn = SyncConnection(engine, None, config, transport, 1, Metrics())
    task = asyncio.get_running_loop().create_task(conn.run())
    conn.feed(CONNECT)
    conn.feed(EMPTY_QUERY_SET)
    await asyncio.wait_for(transport.sending.wait(), REPLY)  # the loop is now stuck
    conn.feed(_event(40 * KiB))
    assert transport.paused == []
    conn.feed(_event(40 * KiB))  # over one full message waiting: stop reading
    assert transport.paused == [True]
    # Frames already read keep arriving; past the byte cap they are dropped
    # for one overflow marker, not queued.
    for _ in range(10):
        conn.feed(_event(40 * KiB))
    assert transport.paused == [True]
    transport.release()
    await asyncio.wait_for(task, REPLY)
    assert transport.closed == (1008, "TooManyMessages: client sent faster than it was served")


async def test_a_stuck_send_ends_in_a_1008_close_after_the_send_timeout(engine: Engine) -> None:
    transport = HeldTransport()
    conn = SyncConnection(engine, None, ServerConfig(send_timeout=0.2), transport, 1, Metrics())
    task = asyncio.get_running_loop().create_task(conn.run())
    conn.feed(CONNECT)
    conn.feed(EMPTY_QUERY_SET)
    await asyncio.wait_for(task, REPLY)
    assert transport.closed == (1008, "SlowClient: the client did not read its messages in time")
    assert transport.sent == []


async def test_reading_resumes_once_the_loop_takes_the_backlog(engine: Engine) -> None:
    transport = HeldTransport()
    config = ServerConfig(max_message_bytes=64 * KiB)
    conn = SyncConnection(engine, None, config, transport, 1, Metrics())
    task = asyncio.get_running_loop().create_task(conn.run())
    conn.feed(CONNECT)
    conn.feed(EMPTY_QUERY_SET)
    await asyncio.wait_for(transport.sending.wait(), REPLY)
    conn.feed(_event(40 * KiB))
    conn.feed(_event(40 * KiB))
    assert transport.paused == [True]
    transport.release()
    second = json.dumps(
        {"type": "ModifyQuerySet", "baseVersion": 1, "newVersion": 2, "modifications": []}
    )
    conn.feed(second)
    # The Transition for the second query set shows the backlog was handled.
    async with asyncio.timeout(REPLY):
        while not any('"querySet":2' in text for text in transport.sent):
            transport.sending.clear()
            await transport.sending.wait()
    assert transport.paused == [True, False]
    conn.disconnected()
    await asyncio.wait_for(task, REPLY)


# -- real sockets ---------------------------------------------------------------------

BODY = "x" * 50_000


async def _reader_that_stops(ws_url: str, channel: str) -> tuple[Peer, int]:
    """A subscriber whose client buffers one frame and then stops reading.
    Its socket's receive buffer is kept small (loopback autotuning would
    otherwise absorb tens of megabytes first), and it does not compress (the
    repetitive results would shrink a thousandfold on the wire)."""
    host, port = ws_url.split("//")[1].split("/")[0].split(":")
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * KiB)  # before connect: no autotuning
    sock.setblocking(False)
    await asyncio.wait_for(asyncio.get_running_loop().sock_connect(sock, (host, int(port))), REPLY)
    ws = await asyncio.wait_for(
        websockets.connect(ws_url, sock=sock, max_queue=1, max_size=None, compression=None),
        REPLY,
    )
    peer = Peer(ws, "slow")
    await peer.send(json.loads(CONNECT))
    query_id, _ = await peer.subscribe("messages:list", {"channel": channel})
    return peer, query_id


@pytest.fixture
async def slow_served(tmp_path: Path) -> AsyncIterator[Served]:
    async with serving(tmp_path / "livesync.db", send_timeout=1.0) as s:
        yield s


async def test_a_client_that_never_reads_is_dropped_and_others_keep_going(
    slow_served: Served,
) -> None:
    writer = await Peer.open(slow_served.ws_url)
    before = set(slow_served.app._connections)
    slow, _ = await _reader_that_stops(slow_served.ws_url, "busy")
    (slow_task,) = set(slow_served.app._connections) - before
    # One commit each, each result larger: once the socket buffers are full
    # a Transition waits, and the send timeout drops the connection.
    async with asyncio.timeout(10 * REPLY):
        while not slow_task.done():
            await writer.mutation_result("messages:send", {"channel": "busy", "body": BODY})
    response, _ = await writer.mutation_result("messages:send", {"channel": "busy", "body": "."})
    assert response["success"] is True
    await writer.close()
    slow.ws.transport.abort()


async def test_a_slow_reader_gets_the_latest_result_not_every_stale_one(
    served: Served,  # noqa: F811
) -> None:
    writer = await Peer.open(served.ws_url)
    slow, query_id = await _reader_that_stops(served.ws_url, "conflated")
    n = 60
    for i in range(n):  # one commit each, every one changing the slow client's result
        await writer.mutation_result(
            "messages:send", {"channel": "conflated", "body": f"{i:03}" + BODY}
        )
    response, _ = await writer.mutation_result(
        "messages:send", {"channel": "conflated", "body": "end"}
    )
    assert response["success"] is True
    # Reading again, the slow client catches up to the last commit without
    # a frame per commit: results made while it was stuck were conflated.
    frames = await slow.until(
        lambda m: (
            m["type"] == "Transition"
            and any(
                u["queryId"] == query_id and u["value"][-1:] == ["end"] for u in m["modifications"]
            )
        )
    )
    updates = query_mods(frames, query_id)
    assert updates[-1]["value"][-1] == "end" and len(updates[-1]["value"]) == n + 1
    assert len(updates) < n // 2, [len(u["value"]) for u in updates]
    await writer.close()
    await slow.close()


async def test_a_compressed_message_is_bounded_by_its_decompressed_size(tmp_path: Path) -> None:
    async with serving(tmp_path / "livesync.db", max_message_bytes=64 * KiB) as s:
        peer = await Peer.open(s.ws_url)
        assert peer.ws.protocol.extensions, "permessage-deflate was not negotiated"
        # About a kilobyte on the wire, a megabyte once inflated.
        await peer.ws.send(_event(1024 * KiB))
        code, reason = await peer.closed()
    assert code == 1009
    assert reason.startswith("frame exceeds limit")


@pytest.mark.parametrize("marker", [b"\x00overflow", b"\x00push-failed"])
async def test_a_binary_frame_that_spells_an_inbox_marker_is_just_a_binary_frame(
    engine: Engine, marker: bytes
) -> None:
    # The inbox ends a connection with sentinels compared by identity: the
    # same bytes from a client are refused as any binary frame is.
    transport = HeldTransport()
    transport.release()
    conn = SyncConnection(engine, None, ServerConfig(), transport, 1, Metrics())
    task = asyncio.get_running_loop().create_task(conn.run())
    conn.feed(CONNECT)
    conn.feed(marker)
    await asyncio.wait_for(task, REPLY)
    assert transport.closed is not None
    code, reason = transport.closed
    assert code == 1002 and "binary frames are not supported" in reason
