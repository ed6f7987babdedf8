"""POST /api/query|mutation|action against a real server process, as
ConvexHttpClient and the Python client call them."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from tests.helpers.server import LivesyncServer, StartServer

__all__: list[str] = []

FUNCTIONS = Path(__file__).parent / "sync" / "functions"
TIMEOUT = 10.0
# A provider whose issuer is never contacted: a garbage token is refused before any fetch.
PROVIDERS = """
[[auth.providers]]
type = "custom_jwt"
issuer = "http://127.0.0.1:9/issuer"
jwks = "http://127.0.0.1:9/issuer/jwks.json"
algorithm = "RS256"
"""


@pytest.fixture
def server(start_server: StartServer) -> LivesyncServer:
    return start_server(FUNCTIONS)


def post(server: LivesyncServer, route: str, body: object, **headers: str) -> httpx.Response:
    return httpx.post(server.url + route, json=body, headers=headers, timeout=TIMEOUT)


def test_mutation_then_query_succeed_with_values_and_log_lines(server: LivesyncServer) -> None:
    sent = post(
        server,
        "/api/mutation",
        {"path": "messages:send", "args": {"channel": "h", "body": "hi"}, "format": "json"},
    )
    assert sent.status_code == 200
    assert sent.json()["status"] == "success"
    assert isinstance(sent.json()["value"], str)

    listed = post(server, "/api/query", {"path": "messages:list", "args": [{"channel": "h"}]})
    assert listed.status_code == 200
    assert listed.json() == {"status": "success", "value": ["hi"], "logLines": ["[LOG] listing h"]}


def test_app_error_is_an_error_status_with_error_data(server: LivesyncServer) -> None:
    reply = post(server, "/api/mutation", {"path": "messages:fail", "args": {"reason": "no"}})
    assert reply.status_code == 200
    assert reply.json() == {
        "status": "error",
        "errorMessage": 'Uncaught ConvexError: {"reason":"no"}',
        "logLines": [],
        "errorData": {"reason": "no"},
    }
    # The failed mutation's write was rolled back.
    listed = post(server, "/api/query", {"path": "messages:list", "args": {"channel": "failed"}})
    assert listed.json()["value"] == []


def test_unknown_function_is_an_error_status_naming_it(server: LivesyncServer) -> None:
    reply = post(server, "/api/query", {"path": "nope:missing", "args": {}})
    assert reply.status_code == 200
    body = reply.json()
    assert body["status"] == "error"
    assert "nope:missing" in body["errorMessage"]
    assert "errorData" not in body


@pytest.mark.parametrize(
    "content",
    [b"{not json", b"[1, 2]", b'{"args": {}}', b'{"path": "messages:list", "args": {"$foo": 1}}'],
    ids=["syntax", "not-object", "no-path", "undecodable-args"],
)
def test_malformed_body_is_400_with_a_json_reason(server: LivesyncServer, content: bytes) -> None:
    reply = httpx.post(server.url + "/api/query", content=content, timeout=TIMEOUT)
    assert reply.status_code == 400
    assert reply.json()["code"] == "BadJsonBody"
    assert reply.json()["message"]


def test_get_on_a_function_route_is_405(server: LivesyncServer) -> None:
    reply = httpx.get(server.url + "/api/query", timeout=TIMEOUT)
    assert reply.status_code == 405
    assert reply.json()["code"] == "MethodNotAllowed"


def test_garbage_bearer_token_is_401_when_providers_are_configured(
    start_server: StartServer,
) -> None:
    server = start_server(FUNCTIONS, config_extra=PROVIDERS)
    body = {"path": "messages:list", "args": {"channel": "h"}}
    refused = post(server, "/api/query", body, Authorization="Bearer not-a-jwt")
    assert refused.status_code == 401
    assert refused.json()["code"] == "Unauthenticated"
    # Without a token the same call is anonymous and succeeds.
    assert post(server, "/api/query", body).json()["status"] == "success"


def test_bearer_token_without_providers_is_401(server: LivesyncServer) -> None:
    body = {"path": "messages:list", "args": {"channel": "h"}}
    refused = post(server, "/api/query", body, Authorization="Bearer anything")
    assert refused.status_code == 401
    assert "No auth provider" in refused.json()["message"]
