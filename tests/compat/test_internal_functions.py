"""Internal functions (`internal_query`, `internal_mutation`,
`internal_action`) through every door a client has: the official PyPI
client over its WebSocket and over HTTP, the official npm client over both,
and the raw HTTP API. Each answers exactly as it does for a path that does
not exist, so an internal function's existence does not leak; actions reach
them by reference, by handler and by path.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from convex import ConvexClient
from convex.http_client import ConvexHttpClient

from tests.helpers.node import run_node_script
from tests.helpers.server import StartServer
from tests.helpers.timeouts import REPLY

pytestmark = [pytest.mark.compat, pytest.mark.timeout(90)]

FUNCTIONS_DIR = Path(__file__).resolve().parent / "functions"
JS_DIR = Path(__file__).resolve().parent / "js"
UNKNOWN = "secrets:absent"
CALLS = [
    ("query", "secrets:count", {}),
    ("mutation", "secrets:add", {"body": "sneaked in"}),
    ("action", "secrets:echo", {"text": "sneaked in"}),
]


def _error(call: Callable[[], Any]) -> tuple[str, str]:
    try:
        value = call()
    except Exception as exc:  # whatever the client raises, compared below
        return type(exc).__name__, str(exc)
    raise AssertionError(f"the call succeeded: {value!r}")


def _same_as_unknown(client: Any, kind: str, path: str, args: dict[str, Any]) -> None:
    name, message = _error(lambda: getattr(client, kind)(path, args))
    unknown_name, unknown_message = _error(lambda: getattr(client, kind)(UNKNOWN, args))
    assert "Could not find public function" in message, message
    assert (name, message.replace(path, "PATH")) == (
        unknown_name,
        unknown_message.replace(UNKNOWN, "PATH"),
    )


@pytest.mark.parametrize(("kind", "path", "args"), CALLS)
def test_the_pypi_client_is_told_an_internal_function_does_not_exist(
    start_server: StartServer, kind: str, path: str, args: dict[str, Any]
) -> None:
    server = start_server(FUNCTIONS_DIR)
    ws = ConvexClient(server.url)
    _same_as_unknown(ws, kind, path, args)
    _same_as_unknown(ConvexHttpClient(server.url), kind, path, args)
    assert ws.query("notes:list") == []  # nothing ran


def test_the_http_api_answers_an_internal_path_as_an_unknown_one(
    start_server: StartServer,
) -> None:
    server = start_server(FUNCTIONS_DIR)
    for kind, path, args in CALLS:
        for route in (kind, "function"):
            internal = httpx.post(
                f"{server.url}/api/{route}", json={"path": path, "args": args}, timeout=REPLY
            )
            unknown = httpx.post(
                f"{server.url}/api/{route}", json={"path": UNKNOWN, "args": args}, timeout=REPLY
            )
            assert internal.status_code == unknown.status_code
            assert "Could not find public function" in internal.json()["errorMessage"]
            assert internal.text.replace(path, "PATH") == unknown.text.replace(UNKNOWN, "PATH")


@pytest.mark.usefixtures("node_ready")
def test_the_npm_client_is_told_an_internal_function_does_not_exist(
    start_server: StartServer,
) -> None:
    server = start_server(FUNCTIONS_DIR)
    result = run_node_script(JS_DIR / "internal_refused.mjs", [server.url])
    assert result.named("passed"), str(result)
    internal, unknown = result.named("internal"), result.named("unknown")
    assert len(internal) == len(unknown) == 6
    for refused, missing in zip(internal, unknown, strict=True):
        assert "Could not find public function" in refused["message"], refused
        assert refused["message"].replace(refused["path"], "PATH") == missing["message"].replace(
            UNKNOWN, "PATH"
        )
        assert refused["isConvexError"] == missing["isConvexError"]
    through = result.one("through_action")
    assert through["done"]["count"] == 3 and through["done"]["shout"] == "HELLO"
    assert through["notes"] == ["hello", "hello again", "hello relayed"]


def test_an_action_reaches_internal_functions_by_reference_handler_and_path(
    start_server: StartServer,
) -> None:
    client = ConvexClient(start_server(FUNCTIONS_DIR).url)
    done = client.action("secrets:write_through_internals", {"body": "hi"})
    assert done["count"] == 3 and done["shout"] == "HI" and len(done["ids"]) == 3
    assert [row["body"] for row in client.query("notes:list")] == ["hi", "hi again", "hi relayed"]
    _, message = _error(lambda: client.action("secrets:wrong_reference"))
    assert "refer to it as internal.secrets.count" in message, message
