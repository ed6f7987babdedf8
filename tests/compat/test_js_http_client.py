"""The official convex npm client's `ConvexHttpClient` (1.48.0) against livesync.

Each test starts a real server on the compat functions and runs one Node
script (tests/compat/js/) that drives the client over HTTP and reports what
it saw.
"""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from tests.helpers.node import run_node_script
from tests.helpers.node_dialog import run_node_dialog
from tests.helpers.server import StartServer
from tests.helpers.timeouts import REPLY

pytestmark = [pytest.mark.compat, pytest.mark.usefixtures("node_ready")]

FUNCTIONS_DIR = Path(__file__).resolve().parent / "functions"
JS_DIR = Path(__file__).resolve().parent / "js"


def test_consistent_queries_share_one_snapshot_across_a_commit(start_server: StartServer) -> None:
    server = start_server(FUNCTIONS_DIR)

    def commit_between(_event: dict[str, object]) -> str:
        body = {"path": "notes:add", "args": {"body": "between"}}
        reply = httpx.post(server.url + "/api/mutation", json=body, timeout=REPLY)
        assert reply.json()["status"] == "success", reply.text
        return "written"

    result = run_node_dialog(
        JS_DIR / "http_consistent_query.mjs", [server.url], wait_for="pinned", act=commit_between
    )
    assert result.named("passed"), str(result)
    after = result.one("after")
    assert after["first"] == after["again"] == ["before"]
    assert after["count"] == 1
    assert after["latest"] == after["repinned"] == ["before", "between"]


def test_function_route_and_nested_actions(start_server: StartServer) -> None:
    server = start_server(FUNCTIONS_DIR)
    result = run_node_script(JS_DIR / "http_function.mjs", [server.url])
    assert result.named("passed"), str(result)
    assert result.one("function")["bodies"] == ["by mutation", "by action"]
    nested = result.one("nested")["value"]
    assert nested["count"] == 3 and isinstance(nested["id"], str)

    relayed = result.one("relayed")
    assert relayed["isConvexError"], relayed
    assert relayed["data"] == {"reason": "refused by the inner action"}
    in_mutation = result.one("in_mutation")
    assert not in_mutation["isConvexError"]
    assert "only actions can run actions" in in_mutation["message"]
    assert "Could not find public function for 'nope:missing'" in result.one("missing")["message"]
    # A 400 reaches the JS client as an Error whose message is the JSON body.
    assert "Unknown componentPath 'widgets'" in result.one("component")["message"]
