"""The HTTP function API: /api/query|mutation|action|function and
/api/query_ts + /api/query_at_ts against a real server process, as
ConvexHttpClient and the Python client call them; the snapshot window's
edges in process, on a real store with a clock the test sets."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from protocol.timestamps import decode_ts, encode_ts
from server.functions.registry import FunctionRegistry
from server.functions.runner import FunctionRunner
from server.http_api import MAX_SNAPSHOT_AGE_NS, handle_api_call
from server.metrics import Metrics
from server.store.sqlite import SqliteStore
from server.sync.engine import Engine
from tests.helpers.server import LivesyncServer, StartServer
from tests.helpers.timeouts import REPLY

__all__: list[str] = []

FUNCTIONS = Path(__file__).parent / "sync" / "functions"
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
    return httpx.post(server.url + route, json=body, headers=headers, timeout=REPLY)


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
    reply = httpx.post(server.url + "/api/query", content=content, timeout=REPLY)
    assert reply.status_code == 400
    assert reply.json()["code"] == "BadJsonBody"
    assert reply.json()["message"]


def test_get_on_a_function_route_is_405(server: LivesyncServer) -> None:
    reply = httpx.get(server.url + "/api/query", timeout=REPLY)
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


# -- /api/query_ts and /api/query_at_ts (ConvexHttpClient.consistentQuery) ---


def query_ts(server: LivesyncServer) -> str:
    reply = httpx.post(server.url + "/api/query_ts", timeout=REPLY)
    assert reply.status_code == 200
    return str(reply.json()["ts"])


def at_ts(server: LivesyncServer, ts: str, path: str, args: object) -> httpx.Response:
    body = {"path": path, "format": "convex_encoded_json", "args": [args], "ts": ts}
    return post(server, "/api/query_at_ts", body)


def send_counted(server: LivesyncServer, body: str) -> None:
    args = {"channel": "c", "body": body}
    reply = post(server, "/api/mutation", {"path": "messages:send_counted", "args": args})
    assert reply.json()["status"] == "success"


def test_query_ts_is_the_wire_timestamp_of_the_latest_commit(server: LivesyncServer) -> None:
    before = query_ts(server)  # 0, or the node's own `_nodes` refresh
    assert len(before) == 12
    send_counted(server, "one")
    first = query_ts(server)
    send_counted(server, "two")
    second = query_ts(server)
    assert decode_ts(before) < decode_ts(first) < decode_ts(second)
    assert encode_ts(decode_ts(second)) == second


def test_queries_at_one_ts_see_one_snapshot_while_commits_land(server: LivesyncServer) -> None:
    send_counted(server, "one")
    ts = query_ts(server)
    listed = at_ts(server, ts, "messages:list", {"channel": "c"})
    send_counted(server, "two")  # commits between the two reads at ts
    counted = at_ts(server, ts, "counts:get", {"channel": "c"})
    assert listed.json() == {"status": "success", "value": ["one"], "logLines": ["[LOG] listing c"]}
    assert counted.json()["value"] == 1.0
    # The same reads again at ts still agree; the latest snapshot has both writes.
    assert at_ts(server, ts, "messages:list", {"channel": "c"}).json()["value"] == ["one"]
    latest = post(server, "/api/query", {"path": "counts:get", "args": {"channel": "c"}})
    assert latest.json()["value"] == 2.0
    fresh = query_ts(server)
    assert at_ts(server, fresh, "messages:list", {"channel": "c"}).json()["value"] == [
        "one",
        "two",
    ]


def test_query_at_ts_outcomes_are_the_same_as_query_ones(server: LivesyncServer) -> None:
    ts = query_ts(server)
    missing = at_ts(server, ts, "nope:missing", {})
    assert missing.status_code == 200
    assert "nope:missing" in missing.json()["errorMessage"]
    wrong_kind = at_ts(server, ts, "messages:send", {"channel": "c", "body": "x"})
    assert wrong_kind.json()["errorMessage"] == (
        "Trying to execute messages:send as Query, but it is defined as Mutation."
    )


def test_timestamp_after_the_latest_commit_is_refused(server: LivesyncServer) -> None:
    send_counted(server, "one")
    future = encode_ts(decode_ts(query_ts(server)) + 1)
    reply = at_ts(server, future, "messages:list", {"channel": "c"})
    assert reply.status_code == 400
    assert reply.json()["code"] == "TimestampInFuture"
    assert "after the latest commit" in reply.json()["message"]


def test_timestamp_older_than_the_window_is_refused(server: LivesyncServer) -> None:
    send_counted(server, "one")  # commit timestamps are wall-clock nanoseconds
    reply = at_ts(server, encode_ts(1), "messages:list", {"channel": "c"})
    assert reply.status_code == 400
    assert reply.json()["code"] == "TimestampTooOld"
    assert "/api/query_ts" in reply.json()["message"]


@pytest.mark.parametrize(
    "ts",
    [None, 12, "not base64!", "AAAA", encode_ts(1)[:-1] + "x"],
    ids=["missing", "number", "not-base64", "four-bytes", "bad-padding"],
)
def test_malformed_ts_is_400_with_a_reason(server: LivesyncServer, ts: object) -> None:
    body: dict[str, object] = {"path": "messages:list", "args": {"channel": "c"}}
    if ts is not None:
        body["ts"] = ts
    reply = post(server, "/api/query_at_ts", body)
    assert reply.status_code == 400
    assert reply.json()["code"] == "BadJsonBody"
    assert "ts" in reply.json()["message"] or "timestamp" in reply.json()["message"]


def test_get_on_query_ts_is_405(server: LivesyncServer) -> None:
    assert httpx.get(server.url + "/api/query_ts", timeout=REPLY).status_code == 405


# -- /api/function: dispatch by what the function is --------------------------


def function(server: LivesyncServer, path: str, args: object, **extra: object) -> httpx.Response:
    body = {"path": path, "format": "convex_encoded_json", "args": args, **extra}
    return post(server, "/api/function", body)


def test_function_route_runs_each_kind_as_what_it_is(server: LivesyncServer) -> None:
    sent = function(server, "messages:send", {"channel": "f", "body": "by mutation"})
    assert sent.status_code == 200 and sent.json()["status"] == "success"
    acted = function(server, "actions:send", {"channel": "f", "body": "by action"})
    assert acted.json()["status"] == "success"
    assert acted.json()["logLines"] == ["[LOG] sending to f"]
    listed = function(server, "messages:list", {"channel": "f"})
    assert listed.json() == {
        "status": "success",
        "value": ["by mutation", "by action"],
        "logLines": ["[LOG] listing f"],
    }
    # A one-element array works too, as on the other routes.
    assert function(server, "messages:list", [{"channel": "f"}]).json()["value"] == [
        "by mutation",
        "by action",
    ]


def test_function_route_errors_are_the_usual_shapes(server: LivesyncServer) -> None:
    missing = function(server, "nope:missing", {})
    assert missing.status_code == 200
    assert missing.json()["status"] == "error"
    assert "Could not find public function for 'nope:missing'" in missing.json()["errorMessage"]
    refused = function(server, "messages:fail", {"reason": "no"})
    assert refused.json()["errorData"] == {"reason": "no"}
    bad_args = function(server, "messages:list", {"channel": 5.0})
    assert bad_args.json()["status"] == "error"
    assert "Value does not match validator" in bad_args.json()["errorMessage"]


def test_function_route_refuses_a_component_path(server: LivesyncServer) -> None:
    root = function(server, "messages:list", {"channel": "f"}, componentPath="")
    assert root.json()["status"] == "success"
    other = function(server, "messages:list", {"channel": "f"}, componentPath="widgets")
    assert other.status_code == 400
    assert other.json() == {"code": "BadJsonBody", "message": "Unknown componentPath 'widgets'"}


# -- ctx.run_action over HTTP ---------------------------------------------------


def test_action_runs_an_action_and_returns_its_value(server: LivesyncServer) -> None:
    args = {"channel": "r", "body": "nested"}
    reply = post(server, "/api/action", {"path": "actions:send_via_action", "args": args})
    value = reply.json()["value"]
    assert value["bodies"] == ["nested"]
    assert isinstance(value["id"], str)
    assert reply.json()["logLines"] == ["[LOG] sending to r", "[LOG] listing r"]


def test_nested_action_app_error_reaches_the_caller_with_its_data(server: LivesyncServer) -> None:
    reply = post(server, "/api/action", {"path": "actions:relay_refusal", "args": {}})
    assert reply.json()["status"] == "error"
    assert reply.json()["errorData"] == {"reason": "action refused"}


def test_run_action_in_a_mutation_is_an_error_naming_it(server: LivesyncServer) -> None:
    reply = post(server, "/api/mutation", {"path": "actions:run_action_in_mutation", "args": {}})
    assert reply.json()["status"] == "error"
    assert "called from a mutation: only actions can run actions" in reply.json()["errorMessage"]


# -- the snapshot window's edges, in process with a set clock -----------------


class Clock:
    def __init__(self) -> None:
        self.now = 10**18

    def __call__(self) -> int:
        return self.now


@pytest.fixture
async def clocked(tmp_path: Path) -> AsyncIterator[tuple[Engine, Clock]]:
    clock = Clock()
    registry = FunctionRegistry.load(FUNCTIONS)
    store = SqliteStore(tmp_path / "clocked.db", clock=clock)
    await store.open(registry.index_defs())
    yield Engine(store, FunctionRunner(registry, store), Metrics()), clock
    await store.close()


async def call(engine: Engine, route: str, body: object) -> tuple[int, object]:
    reply = await handle_api_call(route, json.dumps(body).encode(), None, engine, None)
    return reply.status, json.loads(reply.body)


async def test_snapshot_exactly_at_the_window_edge_is_read_one_past_is_refused(
    clocked: tuple[Engine, Clock],
) -> None:
    engine, clock = clocked
    send = {"path": "messages:send", "args": {"channel": "w", "body": "old"}}
    await call(engine, "/api/mutation", send)
    _, stamped = await call(engine, "/api/query_ts", {})
    assert isinstance(stamped, dict)
    old_ts = decode_ts(stamped["ts"])
    assert old_ts == clock.now

    clock.now += MAX_SNAPSHOT_AGE_NS
    await call(engine, "/api/mutation", {**send, "args": {"channel": "w", "body": "new"}})
    read = {"path": "messages:list", "args": {"channel": "w"}, "ts": stamped["ts"]}
    status, body = await call(engine, "/api/query_at_ts", read)
    assert (status, body) == (
        200,
        {"status": "success", "value": ["old"], "logLines": ["[LOG] listing w"]},
    )

    clock.now += 1
    await call(engine, "/api/mutation", {**send, "args": {"channel": "w", "body": "newer"}})
    status, body = await call(engine, "/api/query_at_ts", read)
    assert status == 400
    assert isinstance(body, dict) and body["code"] == "TimestampTooOld"
