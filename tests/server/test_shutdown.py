"""SIGTERM drains: in-flight mutations are answered and committed, sockets
close with 1012, /health says draining, and a query that would run for a
minute does not hold the exit past the grace period."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from websockets.exceptions import ConnectionClosed

from tests.helpers.raw_sync import RawSyncSocket, add_query
from tests.helpers.server import LivesyncServer, StartServer
from tests.helpers.timeouts import READ

FUNCTIONS = Path(__file__).parent / "shutdown_functions"
GRACE = 3.0


async def _stderr_line(server: LivesyncServer, line: str) -> None:
    """Wait until the server has written `line` to stderr."""
    async with asyncio.timeout(READ):
        while line not in server.stderr_text():
            await asyncio.sleep(0.02)  # polling a file: no event to wait on


async def test_sigterm_answers_in_flight_mutations_then_closes_1012(
    start_server: StartServer,
) -> None:
    server = start_server(FUNCTIONS, server_extra=f"shutdown_grace = {GRACE}\n")
    writer = await RawSyncSocket(server.ws_url).open()
    reader = await RawSyncSocket(server.ws_url).open()
    await reader.modify(add_query(0, "slow:read_forever"))
    await _stderr_line(server, "read_forever: started")
    request_id = await writer.mutation("slow:write_slowly")
    await _stderr_line(server, "write_slowly: started")

    started = time.monotonic()
    stopping = asyncio.get_running_loop().run_in_executor(None, server.stop)
    response = await writer.next_of("MutationResponse", timeout=READ)
    assert (response["requestId"], response["success"]) == (request_id, True)
    assert response["result"] == "written"
    code, _ = await writer.closed(READ)
    assert code == 1012
    reader_code, _ = await reader.closed(READ)
    assert reader_code == 1012
    exit_code = await stopping
    elapsed = time.monotonic() - started
    # uvicorn exits by re-raising the SIGTERM it caught: -15, not -9 (killed).
    assert exit_code == -15, server.stderr_text()
    assert "Traceback" not in server.stderr_text()
    # The minute-long query was cut at the grace period (plus uvicorn's 2 s).
    assert elapsed < GRACE + 6, elapsed

    server.start()
    again = await RawSyncSocket(server.ws_url).open()
    try:
        await again.modify(add_query(0, "slow:writes"))
        transition = await again.next_of("Transition")
        assert transition["modifications"][0]["value"] == 1  # the answered write committed
    finally:
        await again.close()


async def test_frames_after_the_drain_began_are_not_taken(start_server: StartServer) -> None:
    server = start_server(FUNCTIONS, server_extra=f"shutdown_grace = {GRACE}\n")
    sock = await RawSyncSocket(server.ws_url).open()
    await sock.mutation("slow:write_slowly")
    await _stderr_line(server, "write_slowly: started")
    stopping = asyncio.get_running_loop().run_in_executor(None, server.stop)
    await sock.next_of("MutationResponse", timeout=READ)
    # A mutation sent now either is refused by the closed socket or gets no answer.
    late: list[dict[str, object]] = []
    try:
        await sock.mutation("slow:write_slowly")
        while True:
            late.append(await sock.next(READ))
    except ConnectionClosed as closed:
        assert closed.rcvd is not None and closed.rcvd.code == 1012
    assert not [m for m in late if m.get("type") == "MutationResponse"]
    assert await stopping == -15
