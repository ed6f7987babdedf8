"""The admin key, as Convex's dashboard and CLI use theirs: through the
official npm client (`setAdminAuth`), the official PyPI client
(`set_admin_auth`) and the HTTP API (`Authorization: Convex <key>`), an
admin reaches internal functions, live, and may act as a user; a wrong key
is refused, and no one else's call is answered from an admin's results."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from convex import ConvexClient

from tests.helpers.node import run_node_script
from tests.helpers.server import LivesyncServer, StartServer
from tests.helpers.timeouts import REPLY

pytestmark = [pytest.mark.compat, pytest.mark.timeout(90)]

FUNCTIONS_DIR = Path(__file__).resolve().parent / "functions"
JS_DIR = Path(__file__).resolve().parent / "js"


def post(server: LivesyncServer, kind: str, path: str, authorization: str | None) -> Any:
    headers = {"authorization": authorization} if authorization else {}
    reply = httpx.post(
        f"{server.url}/api/{kind}", json={"path": path, "args": {}}, headers=headers, timeout=REPLY
    )
    return reply.status_code, reply.json()


def test_the_npm_client_with_the_admin_key_reaches_internal_functions_live(
    start_server: StartServer,
) -> None:
    server = start_server(FUNCTIONS_DIR)
    result = run_node_script(JS_DIR / "admin.mjs", [server.url, server.admin_key()])
    assert result.named("passed"), str(result)
    live = result.one("live")
    assert live["after"] == live["before"] + 1
    assert result.one("as_nobody")["subject"] is None
    assert result.one("as_alice")["subject"] == "alice"
    assert "Could not find public function" in result.one("no_key")["message"]


def test_the_pypi_client_with_the_admin_key_calls_internal_functions(
    start_server: StartServer,
) -> None:
    server = start_server(FUNCTIONS_DIR)
    client = ConvexClient(server.url)
    client.set_admin_auth(server.admin_key())
    before = client.query("secrets:count")
    client.mutation("secrets:add", {"body": "from python"})
    assert client.query("secrets:count") == before + 1
    assert client.action("secrets:echo", {"text": "hi"}) == "HI"


def test_the_http_api_takes_the_admin_key_and_an_identity_to_act_as(
    start_server: StartServer,
) -> None:
    server = start_server(FUNCTIONS_DIR)
    key = server.admin_key()
    assert post(server, "query", "secrets:whoami", f"Convex {key}") == (
        200,
        {"status": "success", "value": None, "logLines": []},
    )
    alice = base64.b64encode(json.dumps({"subject": "alice", "issuer": "https://i"}).encode())
    status, body = post(server, "function", "secrets:whoami", f"Convex {key}:{alice.decode()}")
    assert (status, body["value"]) == (200, "alice")
    for wrong in (f"Convex {key}x", "Convex nothing", f"Convex {key}:not-base64!"):
        status, body = post(server, "query", "secrets:whoami", wrong)
        assert status == 401 and body["code"] == "Unauthenticated", body
    status, body = post(server, "query", "secrets:whoami", None)
    assert "Could not find public function" in body["errorMessage"]


def test_an_admins_results_never_answer_anyone_else(start_server: StartServer) -> None:
    """An internal query that reads no auth is shared by identity in the
    cache; an admin's run of it must not serve a client without the key,
    nor a client's "not found" answer an admin."""
    server = start_server(FUNCTIONS_DIR)
    admin = ConvexClient(server.url)
    admin.set_admin_auth(server.admin_key())
    user = ConvexClient(server.url)
    admin_updates = admin.subscribe("secrets:count")
    assert isinstance(next(admin_updates), float | int)
    with pytest.raises(Exception, match="Could not find public function"):
        user.query("secrets:count")
    late_admin = ConvexClient(server.url)
    late_admin.set_admin_auth(server.admin_key())
    assert isinstance(late_admin.query("secrets:count"), float | int)
