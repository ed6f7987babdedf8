"""The official `convex` PyPI client's HTTP side (0.8.1) against livesync.

0.8.1 speaks HTTP only through the legacy `convex.http_client.ConvexHttpClient`
(`requests`, blocking): POST /api/query, /api/mutation and /api/action with a
bare-object args body. It has no consistent query and no kind-agnostic call;
its `ConvexClient` uses the WebSocket for everything (see
test_python_client.py).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from convex import ConvexError
from convex.http_client import ConvexExecutionError, ConvexHttpClient

from tests.helpers.server import StartServer

pytestmark = [pytest.mark.compat, pytest.mark.timeout(60)]

FUNCTIONS_DIR = Path(__file__).resolve().parent / "functions"


@pytest.fixture
def client(start_server: StartServer) -> ConvexHttpClient:
    return ConvexHttpClient(start_server(FUNCTIONS_DIR).url)


def test_query_mutation_and_action_over_http(client: ConvexHttpClient) -> None:
    assert client.query("notes:list") == []
    first = client.mutation("notes:add", {"body": "by mutation"})
    second = client.action("actions:add_note", {"body": "by action"})
    rows = client.query("notes:list")
    assert [(row["_id"], row["body"]) for row in rows] == [
        (first, "by mutation"),
        (second, "by action"),
    ]


def test_action_running_an_action_returns_its_value(client: ConvexHttpClient) -> None:
    result = client.action("actions:add_note_nested", {"body": "nested"})
    assert result["count"] == 1.0
    [row] = client.query("notes:list")
    assert row["_id"] == result["id"] and row["body"] == "nested"


def test_nested_action_app_error_arrives_as_convex_error(client: ConvexHttpClient) -> None:
    with pytest.raises(ConvexError) as raised:
        client.action("actions:relay_refusal")
    assert raised.value.data == {"reason": "refused by the inner action"}


def test_run_action_in_a_mutation_is_an_execution_error(client: ConvexHttpClient) -> None:
    with pytest.raises(ConvexExecutionError, match="only actions can run actions"):
        client.mutation("actions:run_action_in_mutation")
    assert client.query("notes:list") == []


def test_refused_token_reaches_the_client_as_status_code_and_message(
    client: ConvexHttpClient,
) -> None:
    client.set_auth("not-a-jwt")  # the server has no auth providers
    with pytest.raises(Exception, match="^401 Unauthenticated: No auth provider"):
        client.query("notes:list")
