"""Issue 13: one client's hostile frame fails that client alone.

A real server subprocess on 127.0.0.1 with its own SQLite file, driven by
raw protocol sockets and the HTTP API. Each test has a victim client whose
mutations must keep committing, over WebSocket and POST /api/mutation, after
the hostile frame; the server log must hold no traceback for it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx

from tests.helpers.raw_sync import RawSyncSocket, add_query
from tests.helpers.server import LivesyncServer, StartServer
from tests.helpers.timeouts import READ

__all__: list[str] = []

FUNCTIONS = Path(__file__).parent / "functions"


async def _victim_keeps_committing(server: LivesyncServer, channel: str, body: str) -> None:
    """A fresh client's WebSocket mutation and an HTTP mutation both commit and are seen."""
    victim = await RawSyncSocket(server.ws_url).open()
    try:
        request_id = await victim.mutation("messages:send", {"channel": channel, "body": body})
        response = await victim.next_of("MutationResponse")
        assert (response["requestId"], response["success"]) == (request_id, True), response
    finally:
        await victim.close()
    async with httpx.AsyncClient(timeout=READ) as http:
        reply = await http.post(
            server.url + "/api/mutation",
            json={"path": "messages:send", "args": {"channel": channel, "body": body + "-http"}},
        )
        assert reply.json()["status"] == "success", reply.text
        rows = await http.post(
            server.url + "/api/query", json={"path": "messages:list", "args": {"channel": channel}}
        )
        assert rows.json()["value"] == [body, body + "-http"]
        health = await http.get(server.url + "/health")
        assert (health.status_code, health.json()["status"]) == (200, "ok")


def _assert_no_traceback(server: LivesyncServer) -> None:
    log = server.stderr_text()
    assert "Traceback" not in log and " ERROR " not in log, log


def _mutation(request_id: int) -> dict[str, Any]:
    args = [{"channel": "hostile", "body": "boom"}]
    return {"type": "Mutation", "requestId": request_id, "udfPath": "messages:send", "args": args}


async def test_a_request_id_of_2_63_closes_its_socket_and_every_write_goes_on(
    start_server: StartServer,
) -> None:
    server = start_server(FUNCTIONS)
    hostile = await RawSyncSocket(server.ws_url).open()
    # Committed once first: the session is then known to the committer, the
    # case that used to fail a whole batch instead of stopping the loop.
    await hostile.mutation("messages:send", {"channel": "hostile", "body": "fine"})
    assert (await hostile.next_of("MutationResponse"))["success"] is True
    await hostile.send(_mutation(2**63))
    code, seen = await hostile.closed()
    assert code == 1002
    assert "MutationResponse" not in seen
    await _victim_keeps_committing(server, "victim", "after")
    # A first-time session too (the retry lookup used to raise OverflowError).
    fresh = await RawSyncSocket(server.ws_url).open()
    await fresh.send(_mutation(2**63))
    assert (await fresh.closed())[0] == 1002
    await _victim_keeps_committing(server, "victim2", "after")
    _assert_no_traceback(server)


async def test_a_new_version_beyond_u32_closes_with_1002_and_logs_no_traceback(
    start_server: StartServer,
) -> None:
    server = start_server(FUNCTIONS)
    for _ in range(3):  # one log line each, not a traceback each
        hostile = await RawSyncSocket(server.ws_url).open()
        await hostile.send(
            {
                "type": "ModifyQuerySet",
                "baseVersion": 0,
                "newVersion": 2**32,
                "modifications": [add_query(0, "messages:list", {"channel": "x"})],
            }
        )
        code, seen = await hostile.closed()
        assert code == 1002
        assert seen == []
        reason = hostile.ws.close_reason or ""
        assert reason.startswith("ProtocolError: ModifyQuerySet.newVersion"), reason
    await _victim_keeps_committing(server, "victim", "after")
    _assert_no_traceback(server)


async def test_someone_elses_session_id_gets_a_clear_error_not_their_result(
    start_server: StartServer,
) -> None:
    server = start_server(FUNCTIONS)
    owner = await RawSyncSocket(server.ws_url).open()
    await owner.mutation("messages:send", {"channel": "owner", "body": "mine"})
    original = await owner.next_of("MutationResponse")
    assert original["success"] is True
    await owner.close()

    thief = await RawSyncSocket(server.ws_url, session_id=owner.session_id).open()
    await thief.mutation("messages:send", {"channel": "thief", "body": "theirs"})
    refused = await thief.next_of("MutationResponse")
    assert refused["success"] is False
    assert refused["result"] == (
        "Request 0 of this session was already used for another call; its result is not returned"
    )
    assert original["result"] not in json.dumps(refused)
    await thief.close()

    # The owner's reconnect replay still gets its own answer, and nothing ran twice.
    back = await RawSyncSocket(server.ws_url, session_id=owner.session_id).open()
    await back.mutation("messages:send", {"channel": "owner", "body": "mine"})
    replay = await back.next_of("MutationResponse")
    assert (replay["success"], replay["result"], replay["ts"]) == (
        True,
        original["result"],
        original["ts"],
    )
    await back.close()
    async with httpx.AsyncClient(timeout=READ) as http:
        for channel, rows in (("owner", ["mine"]), ("thief", [])):
            reply = await http.post(
                server.url + "/api/query",
                json={"path": "messages:list", "args": {"channel": channel}},
            )
            assert reply.json()["value"] == rows
