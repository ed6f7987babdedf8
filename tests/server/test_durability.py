"""SIGKILL during a stream of mutations: after a restart every acknowledged
mutation is there exactly once, and replaying the whole stream on the same
session (as a reconnecting client replays what it has not seen answered)
adds each missing one once and duplicates none."""

from __future__ import annotations

from pathlib import Path

import httpx
from websockets.exceptions import ConnectionClosed

from tests.helpers.raw_sync import RawSyncSocket
from tests.helpers.server import StartServer
from tests.helpers.timeouts import EVENT, READ

FUNCTIONS = Path(__file__).parent / "durability_functions"
COUNT = 600
WINDOW = 50  # mutations in flight at once, as a busy client keeps them
KILL_AFTER = 150  # acknowledgements seen before the kill


async def stream(sock: RawSyncSocket, acknowledged: set[int], until: int) -> None:
    """Send `records:record(n)` for n = 0, 1, ... with WINDOW in flight,
    recording each acknowledged n, until `until` of them are acknowledged."""
    sent = 0
    answered = 0
    while len(acknowledged) < until:
        while sent < COUNT and sent - answered < WINDOW:
            assert await sock.mutation("records:record", {"n": sent}) == sent
            sent += 1
        response = await sock.next_of("MutationResponse")
        answered += 1
        assert response["success"], response
        acknowledged.add(response["requestId"])


async def test_acknowledged_mutations_survive_sigkill_exactly_once(
    start_server: StartServer,
) -> None:
    server = start_server(FUNCTIONS)
    sock = await RawSyncSocket(server.ws_url).open()
    acknowledged: set[int] = set()
    await stream(sock, acknowledged, KILL_AFTER)
    server.kill()
    # Answers already on the wire still count as acknowledged.
    try:
        while True:
            response = await sock.next_of("MutationResponse", timeout=EVENT)
            if response["success"]:
                acknowledged.add(response["requestId"])
    except (ConnectionClosed, TimeoutError, OSError):
        pass
    assert KILL_AFTER <= len(acknowledged) < COUNT  # killed mid-stream

    server.start()
    async with httpx.AsyncClient(base_url=server.url, timeout=READ) as http:
        survived = await _all_ns(http)
        assert acknowledged <= set(survived)
        assert len(survived) == len(set(survived))  # nothing twice

        # The same session replays everything from the start, as a client
        # that lost its socket replays what it has not seen answered (and
        # more); the server answers each, applying only what it lacks.
        again = await RawSyncSocket(server.ws_url, session_id=sock.session_id).open()
        replayed: set[int] = set()
        try:
            await stream(again, replayed, COUNT)
        finally:
            await again.close()
        assert sorted(await _all_ns(http)) == list(range(COUNT))


async def _all_ns(http: httpx.AsyncClient) -> list[int]:
    reply = await http.post("/api/query", json={"path": "records:all_ns", "args": {}})
    body = reply.json()
    assert body["status"] == "success", body
    return [int(n) for n in body["value"]]


def test_the_kill_is_a_real_sigkill(start_server: StartServer) -> None:
    server = start_server(FUNCTIONS)
    proc = server._proc
    assert proc is not None
    server.kill()
    assert proc.returncode == -9
    assert not server.running
