"""HTTP actions (`http.py`) in a real server: routing (exact, prefix, the
longest prefix, 404, 405), replies of every kind, the request as starlette
gives it, a Bearer identity, an action's ctx, failures, CORS, and the
`[server] site_port` listener that serves them alone."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from server.errors import ConfigError
from server.functions.http_router import http_action, http_router
from tests.helpers.issuer import ThreadedIssuer, running_issuer
from tests.helpers.server import LivesyncServer, StartServer
from tests.helpers.timeouts import REPLY

FUNCTIONS = Path(__file__).parent / "http_functions"


@pytest.fixture
def issuer(tmp_path: Path) -> Iterator[ThreadedIssuer]:
    with running_issuer(tmp_path / "keys") as running:
        yield running


@pytest.fixture
def server(start_server: StartServer, issuer: ThreadedIssuer) -> LivesyncServer:
    return start_server(FUNCTIONS, config_extra=issuer.provider_config())


def test_a_route_gets_the_request_and_the_callers_identity(
    server: LivesyncServer, issuer: ThreadedIssuer
) -> None:
    anonymous = httpx.get(f"{server.url}/echo?a=1", headers={"x-probe": "p"}, timeout=REPLY)
    assert anonymous.status_code == 200
    assert anonymous.json() == {
        "method": "GET",
        "path": "/echo",
        "query": {"a": "1"},
        "header": "p",
        "body": "",
        "subject": None,
    }
    token = issuer.token("user_7")
    signed = httpx.put(
        f"{server.url}/echo",
        content=b"payload",
        headers={"authorization": f"Bearer {token}"},
        timeout=REPLY,
    )
    assert signed.json()["subject"] == "user_7" and signed.json()["body"] == "payload"
    refused = httpx.get(
        f"{server.url}/echo", headers={"authorization": "Bearer not-a-token"}, timeout=REPLY
    )
    assert refused.status_code == 401 and refused.json()["code"] == "Unauthenticated"


def test_exact_paths_win_then_the_longest_prefix(server: LivesyncServer) -> None:
    assert (
        httpx.get(f"{server.url}/files/a/b.txt", timeout=REPLY).json()["path"] == "/files/a/b.txt"
    )
    assert httpx.get(f"{server.url}/files/special/x", timeout=REPLY).text == "plain words"
    missing = httpx.get(f"{server.url}/nowhere", timeout=REPLY)
    assert missing.status_code == 404 and missing.json()["code"] == "NotFound"
    wrong = httpx.post(f"{server.url}/echo", timeout=REPLY)
    assert wrong.status_code == 405 and wrong.headers["allow"] == "GET, PUT"
    # The server's own paths are not the app's.
    assert httpx.post(f"{server.url}/api/echo", timeout=REPLY).status_code == 404
    assert httpx.get(f"{server.url}/health", timeout=REPLY).json()["status"] == "ok"


def test_every_kind_of_reply(server: LivesyncServer) -> None:
    text = httpx.get(f"{server.url}/text", timeout=REPLY)
    assert text.headers["content-type"].startswith("text/plain") and text.text == "plain words"
    raw = httpx.get(f"{server.url}/raw", timeout=REPLY)
    assert raw.headers["content-type"] == "application/octet-stream"
    assert raw.content == b"\x00\x01binary"
    assert httpx.delete(f"{server.url}/nothing", timeout=REPLY).status_code == 204
    odd = httpx.get(f"{server.url}/odd", timeout=REPLY)
    assert odd.status_code == 500 and "not a response" in odd.json()["message"]


def test_an_http_action_runs_functions_and_schedules_as_an_action_does(
    server: LivesyncServer,
) -> None:
    saved = httpx.post(f"{server.url}/save", json={"text": "from a webhook"}, timeout=REPLY)
    assert saved.status_code == 201 and saved.headers["x-saved"] == "yes"
    note_id, count, job = saved.text.split()
    assert len(note_id) == 32 and count == "1.0" and len(job) == 32


def test_failures_answer_500_with_the_message_only(server: LivesyncServer) -> None:
    refused = httpx.post(f"{server.url}/refuse", timeout=REPLY)
    assert refused.status_code == 500
    assert refused.json()["data"] == {"why": "refused on purpose"}
    crashed = httpx.post(f"{server.url}/crash", timeout=REPLY)
    assert crashed.status_code == 500 and crashed.json()["message"] == "Server Error"
    assert "51c2" not in crashed.text
    # The server serves on.
    assert httpx.get(f"{server.url}/text", timeout=REPLY).text == "plain words"


def test_a_body_over_the_limit_is_refused_before_the_handler(
    start_server: StartServer,
) -> None:
    server = start_server(FUNCTIONS, server_extra="max_message_bytes = 1000\n")
    big = httpx.put(f"{server.url}/echo", content=b"x" * 1001, timeout=REPLY)
    assert big.status_code == 413


def test_cors_headers_come_from_the_config(start_server: StartServer) -> None:
    server = start_server(FUNCTIONS, server_extra='cors_origins = ["https://app.example"]\n')
    allowed = httpx.get(f"{server.url}/text", headers={"origin": "https://app.example"})
    assert allowed.headers["access-control-allow-origin"] == "https://app.example"
    preflight = httpx.options(
        f"{server.url}/echo",
        headers={"origin": "https://app.example", "access-control-request-method": "PUT"},
    )
    assert (
        preflight.status_code == 204 and "PUT" in preflight.headers["access-control-allow-methods"]
    )
    assert (
        httpx.get(f"{server.url}/text", headers={"origin": "https://evil.example"}).status_code
        == 403
    )


def test_the_site_port_serves_the_http_actions_alone(start_server: StartServer) -> None:
    server = start_server(FUNCTIONS, server_extra="site_port = 0\n")
    line = next(out for out in server.stdout_lines() if "HTTP actions on" in out)
    site = line.split(" on ", 1)[1].strip()
    assert httpx.get(f"{site}/text", timeout=REPLY).text == "plain words"
    assert httpx.get(f"{site}/health", timeout=REPLY).status_code == 404
    assert httpx.get(f"{server.url}/text", timeout=REPLY).text == "plain words"


def test_bad_routes_are_refused_when_http_py_loads() -> None:
    @http_action
    async def handler(ctx: object, request: object) -> str:
        return ""

    async def plain(ctx: object, request: object) -> str:
        return ""

    router = http_router()
    router.route(path="/a", method="GET", handler=handler)
    for kwargs, message in [
        ({"path": "/a", "method": "GET", "handler": handler}, "routed twice"),
        ({"path": "/api/x", "method": "GET", "handler": handler}, "reserved"),
        ({"path": "/health", "method": "GET", "handler": handler}, "reserved"),
        ({"path": "b", "method": "GET", "handler": handler}, "must start with"),
        ({"path_prefix": "/p", "method": "GET", "handler": handler}, "must end with"),
        ({"path": "/b", "method": "FETCH", "handler": handler}, "is not one of"),
        ({"path": "/b", "method": "GET", "handler": plain}, "must be an @http_action"),
        ({"path": "/b", "path_prefix": "/b/", "method": "GET", "handler": handler}, "either"),
    ]:
        with pytest.raises(ConfigError, match=message):
            router.route(**kwargs)  # type: ignore[arg-type]
