"""A client going away mid-push is not a server error.

The server is a real subprocess (the CLI's protocol, with direct sends), so
what is checked is exactly what an operator would see in its stderr.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import websockets

from tests.helpers.server import StartServer
from tests.helpers.timeouts import REPLY
from tests.server.sync.test_connection import Peer, query_mods

__all__: list[str] = []

FUNCTIONS = Path(__file__).parent / "functions"
BODY = "x" * 20_000


async def _stuck_subscriber(ws_url: str, channel: str) -> Peer:
    """A subscriber that stops reading after its first result: its client
    buffers one frame, then the kernel buffers fill and the server's sends wait."""
    ws = await asyncio.wait_for(websockets.connect(ws_url, max_queue=1, max_size=None), REPLY)
    peer = Peer(ws, "stuck")
    await peer.send(
        {
            "type": "Connect",
            "sessionId": "2b7c4a55-9d43-4b5c-8d7e-3f1f6b0a9e11",
            "connectionCount": 0,
            "lastCloseReason": "InitialConnect",
            "clientTs": 0,
        }
    )
    await peer.subscribe("messages:list", {"channel": channel})
    return peer


async def test_clients_dropping_mid_push_log_no_error_and_others_keep_being_served(
    start_server: StartServer,
) -> None:
    server = start_server(FUNCTIONS)
    writer = await Peer.open(server.ws_url)
    watcher = await Peer.open(server.ws_url)
    watch_id, _ = await watcher.subscribe("messages:list", {"channel": "other"})
    for round_ in range(3):
        channel = f"busy-{round_}"
        stuck = [await _stuck_subscriber(server.ws_url, channel) for _ in range(3)]
        # Each commit pushes the whole, growing list to every stuck socket,
        # far more than the socket buffers hold: their sends are left waiting.
        for _ in range(40):
            await writer.mutate("messages:send", {"channel": channel, "body": BODY})
        response, _ = await writer.mutation_result(
            "messages:send", {"channel": channel, "body": "."}
        )
        assert response["success"] is True
        for peer in stuck:
            peer.ws.transport.abort()  # gone without a close frame
        response, frames = await watcher.mutation_result(
            "messages:send", {"channel": "other", "body": f"still here {round_}"}
        )
        assert response["success"] is True
        assert query_mods(frames, watch_id)[-1]["value"][-1] == f"still here {round_}"
    await writer.close()
    await watcher.close()
    server.stop()
    stderr = server.stderr_text()
    assert "ERROR" not in stderr, stderr
    assert "Traceback" not in stderr, stderr
