"""Time limits end to end: a real server process with the default limits
(1 s for queries and mutations), functions that overrun them, and other
clients that must be served meanwhile.

Each bound below is a generous upper bound, several times the 1 s limit and
far below what the unlimited function would take (forever, 5 s, 30 s).
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import httpx

from tests.helpers.raw_sync import RawSyncSocket, add_query
from tests.helpers.server import LivesyncServer, StartServer
from tests.helpers.timeouts import scaled

FUNCTIONS = Path(__file__).parent / "limits_functions"
BOUND = scaled(4.0)


async def call(server: LivesyncServer, kind: str, path: str, args: Any = None) -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=server.url, timeout=scaled(30.0)) as http:
        reply = await http.post(f"/api/{kind}", json={"path": path, "args": args or {}})
    assert reply.status_code == 200
    body: dict[str, Any] = reply.json()
    return body


async def subscribed_texts(server: LivesyncServer) -> RawSyncSocket:
    socket = await RawSyncSocket(server.ws_url).open()
    await socket.modify(add_query(0, "notes:texts"))
    first = await socket.next_of("Transition")
    assert first["modifications"][0]["value"] == []
    return socket


async def test_a_spinning_query_times_out_and_other_clients_are_served(
    start_server: StartServer,
) -> None:
    server = start_server(FUNCTIONS)
    other = await subscribed_texts(server)
    spinning = asyncio.ensure_future(call(server, "query", "slow:spin"))
    started = time.monotonic()
    await other.mutation("notes:add", {"text": "served"})
    response = await other.next_of("MutationResponse", timeout=BOUND)
    assert response["success"] is True
    transition = await other.next_of("Transition", timeout=BOUND)
    assert transition["modifications"][0]["value"] == ["served"]
    assert time.monotonic() - started < BOUND
    reply = await asyncio.wait_for(spinning, BOUND)
    assert reply["status"] == "error"
    assert reply["errorMessage"] == (
        "Function slow:spin timed out after 1 s (limit: [functions] query_timeout)"
    )
    await other.close()
    async with httpx.AsyncClient(base_url=server.url) as http:
        metrics = (await http.get("/metrics")).text
    assert 'livesync_function_timeouts_total{kind="query"} 1' in metrics
    assert server.running


async def test_a_sleeping_query_is_cut_short_and_does_not_stall_others_for_its_sleep(
    start_server: StartServer,
) -> None:
    server = start_server(FUNCTIONS)
    started = time.monotonic()
    sleeping = asyncio.ensure_future(call(server, "query", "slow:sleep"))
    unrelated = await asyncio.wait_for(call(server, "query", "notes:texts"), BOUND)
    assert unrelated == {"status": "success", "value": [], "logLines": []}
    reply = await asyncio.wait_for(sleeping, BOUND)
    assert "timed out after 1 s" in reply["errorMessage"]
    assert time.monotonic() - started < 3.0  # time.sleep(5) ran to its end before


async def test_a_subscribed_query_that_spins_gets_the_timeout_as_its_error(
    start_server: StartServer,
) -> None:
    server = start_server(FUNCTIONS)
    socket = await RawSyncSocket(server.ws_url).open()
    await socket.modify(add_query(0, "slow:spin"))
    transition = await socket.next_of("Transition", timeout=BOUND)
    modification = transition["modifications"][0]
    assert modification["type"] == "QueryFailed"
    assert "slow:spin timed out after 1 s" in modification["errorMessage"]
    await socket.close()


async def test_a_waiting_mutation_holds_other_mutations_no_longer_than_its_limit(
    start_server: StartServer,
) -> None:
    server = start_server(FUNCTIONS)
    waiting = await RawSyncSocket(server.ws_url).open()
    other = await subscribed_texts(server)
    await waiting.mutation("slow:write_then_wait")
    started = time.monotonic()
    await other.mutation("notes:add", {"text": "not held for 30 s"})
    response = await other.next_of("MutationResponse", timeout=BOUND)
    assert response["success"] is True
    assert time.monotonic() - started < BOUND
    failed = await waiting.next_of("MutationResponse", timeout=BOUND)
    assert failed["success"] is False
    assert failed["result"] == (
        "Function slow:write_then_wait timed out after 1 s (limit: [functions] mutation_timeout)"
    )
    # The timed-out mutation's insert was rolled back.
    reply = await call(server, "query", "notes:texts")
    assert reply["value"] == ["not held for 30 s"]
    await waiting.close()
    await other.close()


async def test_a_spinning_mutation_writes_nothing_and_the_next_one_commits(
    start_server: StartServer,
) -> None:
    server = start_server(FUNCTIONS)
    reply = await asyncio.wait_for(call(server, "mutation", "slow:write_then_spin"), BOUND)
    assert reply["status"] == "error" and "mutation_timeout" in reply["errorMessage"]
    reply = await asyncio.wait_for(call(server, "mutation", "notes:add", {"text": "next"}), BOUND)
    assert reply["status"] == "success"
    assert (await call(server, "query", "notes:texts"))["value"] == ["next"]


async def test_a_blocking_action_does_not_stall_an_unrelated_query(
    start_server: StartServer,
) -> None:
    server = start_server(FUNCTIONS)
    watcher = await subscribed_texts(server)
    blocking = asyncio.ensure_future(
        call(server, "action", "slow:mark_then_block", {"seconds": 3.0})
    )
    marked = await watcher.next_of("Transition", timeout=BOUND)
    assert marked["modifications"][0]["value"] == ["blocking"]
    started = time.monotonic()  # the action is in its 3 s time.sleep now
    unrelated = await asyncio.wait_for(call(server, "query", "notes:texts"), BOUND)
    assert unrelated["value"] == ["blocking"]
    assert time.monotonic() - started < 1.5
    assert not blocking.done()
    assert (await asyncio.wait_for(blocking, BOUND))["value"] == "slept"
    await watcher.close()
