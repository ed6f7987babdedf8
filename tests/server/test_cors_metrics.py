"""`[server] cors_origins` and `[server] metrics`, over real sockets."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from tests.helpers.server import LivesyncServer
from tests.helpers.timeouts import REPLY
from tests.server.sync.test_connection import Served, serving

__all__: list[str] = []

FUNCTIONS = Path(__file__).parent / "sync" / "functions"
QUERY = {"path": "messages:list", "args": {"channel": "c"}}
APP = "https://app.example"


async def _preflight(url: str, origin: str) -> httpx.Response:
    async with httpx.AsyncClient() as http:
        return await http.options(
            url + "/api/query",
            headers={
                "Origin": origin,
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "content-type, authorization",
            },
            timeout=REPLY,
        )


@pytest.fixture
async def default_server(tmp_path: Path) -> AsyncIterator[Served]:
    async with serving(tmp_path / "livesync.db") as s:
        yield s


@pytest.fixture
async def listed_server(tmp_path: Path) -> AsyncIterator[Served]:
    async with serving(tmp_path / "livesync.db", cors_origins=(APP,)) as s:
        yield s


async def test_default_allows_any_origin_without_credentials(default_server: Served) -> None:
    async with httpx.AsyncClient(timeout=REPLY) as http:
        reply = await http.post(
            default_server.url + "/api/query", json=QUERY, headers={"Origin": "https://x.example"}
        )
    assert reply.json()["status"] == "success"
    assert reply.headers["access-control-allow-origin"] == "*"
    assert "access-control-allow-credentials" not in reply.headers
    pre = await _preflight(default_server.url, "https://x.example")
    assert pre.status_code == 204
    assert pre.headers["access-control-allow-origin"] == "*"
    assert pre.headers["access-control-allow-headers"] == "content-type, authorization"
    assert "access-control-allow-credentials" not in pre.headers


async def test_a_listed_origin_is_mirrored_with_credentials(listed_server: Served) -> None:
    pre = await _preflight(listed_server.url, APP)
    assert pre.status_code == 204
    assert pre.headers["access-control-allow-origin"] == APP
    assert pre.headers["access-control-allow-credentials"] == "true"
    assert pre.headers["vary"] == "origin"
    async with httpx.AsyncClient(timeout=REPLY) as http:
        reply = await http.post(
            listed_server.url + "/api/query", json=QUERY, headers={"Origin": APP}
        )
    assert reply.json()["status"] == "success"
    assert reply.headers["access-control-allow-origin"] == APP


async def test_an_unlisted_origin_is_refused_on_preflight_and_request(
    listed_server: Served,
) -> None:
    evil = "https://evil.example"
    pre = await _preflight(listed_server.url, evil)
    assert pre.status_code == 403
    assert "access-control-allow-origin" not in pre.headers
    assert pre.json() == {"code": "OriginNotAllowed", "message": f"Origin {evil} is not allowed"}
    async with httpx.AsyncClient(timeout=REPLY) as http:
        reply = await http.post(
            listed_server.url + "/api/mutation",
            json={"path": "messages:send", "args": {"channel": "c", "body": "csrf"}},
            headers={"Origin": evil},
        )
        assert reply.status_code == 403
        assert "access-control-allow-origin" not in reply.headers
        # Refused before it ran: nothing was written.
        rows = await http.post(listed_server.url + "/api/query", json=QUERY)
    assert rows.json()["value"] == []


async def test_requests_without_an_origin_get_no_cors_headers(listed_server: Served) -> None:
    async with httpx.AsyncClient(timeout=REPLY) as http:
        reply = await http.post(listed_server.url + "/api/query", json=QUERY)
    assert reply.json()["status"] == "success"
    assert "access-control-allow-origin" not in reply.headers


async def test_metrics_off_is_not_found(tmp_path: Path) -> None:
    async with serving(tmp_path / "livesync.db", metrics="off") as s:
        async with httpx.AsyncClient(timeout=REPLY) as http:
            reply = await http.get(s.url + "/metrics")
            health = await http.get(s.url + "/health")
    assert reply.status_code == 404
    assert health.status_code == 200


def test_metrics_on_their_own_address_and_not_on_the_main_port(tmp_path: Path) -> None:
    server = LivesyncServer(FUNCTIONS, tmp_path / "s", server_extra='metrics = "127.0.0.1:0"\n')
    server.start()
    try:
        printed = "".join(server.stdout_lines())
        match = re.search(r"livesync: metrics on (http://127\.0\.0\.1:\d+)/metrics", printed)
        assert match, printed
        metrics_url = match.group(1)
        own = httpx.get(metrics_url + "/metrics", timeout=REPLY)
        assert own.status_code == 200
        assert "# TYPE livesync_query_executions_total counter" in own.text
        assert httpx.get(metrics_url + "/api/query", timeout=REPLY).status_code == 404
        assert httpx.get(server.url + "/metrics", timeout=REPLY).status_code == 404
    finally:
        server.stop()
    stderr = server.stderr_text()
    assert "Traceback" not in stderr, stderr
    assert "store.closed" in stderr, "the server did not shut down cleanly"
