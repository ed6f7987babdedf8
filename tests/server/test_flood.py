"""The issue's reproduction, end to end: a client that stops reading and
floods the server with 1 MiB frames costs it a bounded amount of memory (the
flood waits in TCP), is cut off after `send_timeout`, and never holds up
anyone else. (tests/server/sync/test_backpressure.py has the finer cases.)"""

from __future__ import annotations

import asyncio
import contextlib
import json
from pathlib import Path

import httpx
import websockets
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed

from tests.helpers.raw_sync import RawSyncSocket, add_query
from tests.helpers.server import LivesyncServer, StartServer
from tests.helpers.timeouts import CLIENT

FUNCTIONS = Path(__file__).parent / "backpressure_functions"
MiB = 1024 * 1024


def _status_kb(server: LivesyncServer, field: str) -> int:
    for line in Path(f"/proc/{server.pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise AssertionError(field)


async def _connect_not_reading(server: LivesyncServer) -> ClientConnection:
    """A client that reads one message into its queue and then nothing more."""
    ws = await websockets.connect(server.ws_url, max_queue=1, compression=None, max_size=None)
    connect = {"type": "Connect", "sessionId": "stuck", "connectionCount": 0,
               "lastCloseReason": None, "clientTs": 0}  # fmt: skip
    await ws.send(json.dumps(connect))
    return ws


async def _bump(http: httpx.AsyncClient, times: int) -> None:
    for _ in range(times):
        reply = await http.post("/api/mutation", json={"path": "big:bump", "args": {}})
        assert reply.json()["status"] == "success"


async def test_a_client_that_floods_and_never_reads_is_bounded_then_cut_off(
    start_server: StartServer,
) -> None:
    server = start_server(
        FUNCTIONS, server_extra="max_message_bytes = 2097152\nsend_timeout = 3.0\n"
    )
    async with httpx.AsyncClient(base_url=server.url, timeout=CLIENT) as http:
        stuck = await _connect_not_reading(server)
        modify = {"type": "ModifyQuerySet", "baseVersion": 0, "newVersion": 1,
                  "modifications": [add_query(0, "big:blob", {"size": MiB})]}  # fmt: skip
        await stuck.send(json.dumps(modify))
        # Its result grows the server's unsent output until the socket backs up.
        await _bump(http, 30)
        rss_before_flood = _status_kb(server, "VmRSS")

        event = json.dumps({"type": "Event", "eventType": "flood", "event": "y" * MiB})
        sent = 0

        async def flood() -> None:
            nonlocal sent
            for _ in range(300):
                await stuck.send(event)
                sent += 1

        flooding = asyncio.create_task(flood())
        # Meanwhile an honest client is served as usual.
        honest = await RawSyncSocket(server.ws_url).open()
        await honest.modify(add_query(0, "big:blob", {"size": 10}))
        await honest.next_of("Transition")
        await _bump(http, 1)
        await honest.next_of("Transition")
        with contextlib.suppress(ConnectionClosed, TimeoutError):
            await asyncio.wait_for(flooding, CLIENT)
        flooding.cancel()
        # The server stopped reading: the flood waited in TCP, not in its memory.
        assert sent < 300, sent
        peak_growth_mb = (_status_kb(server, "VmHWM") - rss_before_flood) / 1024
        assert peak_growth_mb < 64, peak_growth_mb
        # ...and gave up on the client after send_timeout.
        async with asyncio.timeout(CLIENT):
            while "client read nothing" not in server.stderr_text():
                await asyncio.sleep(0.05)  # polling a log file: no event to wait on
        await _bump(http, 1)
        await honest.next_of("Transition")
        await honest.close()
    assert "Traceback" not in server.stderr_text()
