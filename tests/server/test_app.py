"""The ASGI app's routing over real sockets: health, metrics, 404s, CORS and
the sync route's accepted spellings."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import httpx
import pytest
import websockets

from tests.helpers.server import LivesyncServer, StartServer
from tests.helpers.timeouts import REPLY

__all__: list[str] = []

FUNCTIONS = Path(__file__).parent / "sync" / "functions"


@pytest.fixture
def server(start_server: StartServer) -> LivesyncServer:
    return start_server(FUNCTIONS)


def test_health_reports_ok(server: LivesyncServer) -> None:
    reply = httpx.get(server.url + "/health", timeout=REPLY)
    assert reply.status_code == 200
    assert reply.json() == {"status": "ok"}


def test_metrics_are_prometheus_text_with_query_executions(server: LivesyncServer) -> None:
    httpx.post(
        server.url + "/api/query",
        json={"path": "messages:list", "args": {"channel": "m"}},
        timeout=REPLY,
    )
    reply = httpx.get(server.url + "/metrics", timeout=REPLY)
    assert reply.status_code == 200
    assert reply.headers["content-type"].startswith("text/plain")
    assert "# TYPE livesync_query_executions_total counter" in reply.text


def test_unknown_route_is_404_naming_it(server: LivesyncServer) -> None:
    reply = httpx.get(server.url + "/no/such/thing", timeout=REPLY)
    assert reply.status_code == 404
    assert reply.json() == {"code": "NotFound", "message": "No route for /no/such/thing"}


def test_preflight_allows_any_origin_by_default_and_echoes_requested_headers(
    server: LivesyncServer,
) -> None:
    reply = httpx.options(
        server.url + "/api/mutation",
        headers={
            "Origin": "http://app.example",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type, authorization",
        },
        timeout=REPLY,
    )
    assert reply.status_code == 204
    assert reply.headers["access-control-allow-origin"] == "*"
    assert "access-control-allow-credentials" not in reply.headers
    assert reply.headers["access-control-allow-headers"] == "content-type, authorization"


async def _first_transition(url: str) -> dict[str, object]:
    async with websockets.connect(url) as ws:
        await ws.send(
            json.dumps(
                {"type": "Connect", "sessionId": "s", "connectionCount": 0, "clientTs": 0}
                | {"lastCloseReason": "InitialConnect"}
            )
        )
        await ws.send(
            json.dumps(
                {"type": "ModifyQuerySet", "baseVersion": 0, "newVersion": 1, "modifications": []}
            )
        )
        reply: dict[str, object] = json.loads(await asyncio.wait_for(ws.recv(), REPLY))
        return reply


@pytest.mark.parametrize(
    "path", ["/api/sync", "/api/1.48.0/sync", "//api/1.48.0/sync", "/prefix/api/1.48.0/sync"]
)
async def test_sync_route_accepts_every_client_spelling(server: LivesyncServer, path: str) -> None:
    reply = await _first_transition(f"ws://127.0.0.1:{server.port}{path}")
    assert reply["type"] == "Transition"
    version = reply["endVersion"]
    assert isinstance(version, dict)
    # ts is the latest commit's: the node's own `_nodes` refresh makes one.
    assert (version["querySet"], version["identity"]) == (1, 0) and "ts" in version


async def test_websocket_on_an_unknown_path_is_refused_with_404(server: LivesyncServer) -> None:
    with pytest.raises(websockets.InvalidStatus) as caught:
        async with websockets.connect(f"ws://127.0.0.1:{server.port}/elsewhere"):
            pass
    response = caught.value.response
    assert response.status_code == 404
    assert json.loads(response.body) == {"code": "NotFound", "message": "No route for /elsewhere"}
