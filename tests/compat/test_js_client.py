"""The official convex npm client (1.48.0, `ConvexClient` from convex/browser) against livesync.

Each test starts a real server on the compat functions and runs one Node
script (tests/compat/js/) that drives the client and reports what it saw.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers.node import NodeResult, run_node_script
from tests.helpers.s3_server import FileBackend
from tests.helpers.server import REPO_ROOT, StartServer

pytestmark = [pytest.mark.compat, pytest.mark.usefixtures("node_ready")]

FUNCTIONS_DIR = Path(__file__).resolve().parent / "functions"
JS_DIR = Path(__file__).resolve().parent / "js"
FILE_FUNCTIONS = Path(__file__).resolve().parents[1] / "server" / "storage_functions"


def _run(start_server: StartServer, script: str) -> NodeResult:
    server = start_server(FUNCTIONS_DIR)
    result = run_node_script(JS_DIR / script, [server.url])
    assert result.named("passed"), str(result)
    return result


def test_on_update_delivers_first_result_then_a_pushed_update(start_server: StartServer) -> None:
    result = _run(start_server, "on_update.mjs")
    assert result.one("first")["value"] == []
    assert [row["body"] for row in result.one("pushed")["value"]] == ["pushed"]


def test_mutation_resolves_only_after_the_subscription_shows_it(start_server: StartServer) -> None:
    result = _run(start_server, "mutation_order.mjs")
    assert all(event["shownBeforeResolve"] for event in result.named("resolved"))
    order = result.one("order")["order"]
    for n, body in enumerate(["one", "two", "three"], start=1):
        assert order.index(f"update:{n}") < order.index(f"resolved:{body}"), order


def test_failing_query_reaches_on_error_with_its_message(start_server: StartServer) -> None:
    result = _run(start_server, "query_error.mjs")
    assert "query refused on purpose" in result.one("refused")["message"]
    crashed = result.one("crashed")
    assert not crashed["isConvexError"]
    assert "internal detail 7f3a" not in crashed["message"]


def test_app_error_arrives_as_convex_error_with_data(start_server: StartServer) -> None:
    result = _run(start_server, "convex_error.mjs")
    for name in ("query_error", "mutation_error"):
        event = result.one(name)
        assert event["isConvexError"], event
        assert event["data"] == {"code": 1, "big": {"$bigint": "7"}}, event


def test_int64_and_bytes_round_trip_unchanged(start_server: StartServer) -> None:
    result = _run(start_server, "values_roundtrip.mjs")
    stored = result.one("stored")
    assert stored["value"]["min"] == {"$bigint": str(-(2**63))}
    assert stored["value"]["max"] == {"$bigint": str(2**63 - 1)}
    assert stored["value"]["bytes"] == {"$bytes": [0, 1, 127, 128, 255]}
    # The server saw Int64 for bigints and int for a whole number, as the
    # README's value table promises app code.
    assert stored["types"] == {
        "min": "Int64",
        "max": "Int64",
        "zero": "Int64",
        "minusOne": "Int64",
        "bytes": "bytes",
        "emptyBytes": "bytes",
        "float": "float",
        "whole": "int",
        "list": ["Int64", "float", "str", "int"],
    }
    assert result.one("queried")["value"] == stored["value"]


def test_two_clients_see_each_others_writes(start_server: StartServer) -> None:
    result = _run(start_server, "two_clients.mjs")
    for name in ("a", "b"):
        assert sorted(result.one(name)["bodies"]) == ["from a", "from b"]


def test_one_shot_query_returns_current_result(start_server: StartServer) -> None:
    result = _run(start_server, "one_shot_query.mjs")
    assert result.one("before")["value"] == []
    assert [row["body"] for row in result.one("after")["value"]] == ["once"]


def test_a_file_goes_up_by_upload_url_and_comes_back_by_its_url(
    start_server: StartServer, file_backend: FileBackend
) -> None:
    server = start_server(FILE_FUNCTIONS, config_extra=file_backend.config())
    result = run_node_script(JS_DIR / "storage.mjs", [server.url])
    assert result.named("passed"), str(result)
    assert result.one("uploaded")["status"] == 200
    served = result.one("served")
    assert served["status"] == 200 and served["type"] == "image/png" and served["same"]
    assert served["meta"]["size"] == 8 and served["meta"]["contentType"] == "image/png"
    assert result.one("reused")["status"] == 403  # an upload URL works once
    assert result.one("deleted")["after"] == 404


def test_a_search_subscription_sees_a_new_match_arrive(start_server: StartServer) -> None:
    server = start_server(REPO_ROOT / "examples" / "chat" / "functions")
    result = run_node_script(JS_DIR / "search.mjs", [server.url])
    assert result.named("passed"), str(result)
    assert result.one("first")["bodies"] == ["Deploy tonight?"]
    # The exact word ranks above the word it only begins.
    assert result.one("pushed")["bodies"] == ["Deploy tonight?", "the deployment went fine"]
    # The first result and the one with the new match: the message in another
    # channel re-ran nothing the client could see.
    assert result.one("updates")["count"] == 2
