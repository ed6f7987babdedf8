"""Size limits (`[limits]`): each refusal is clear, and harms neither the
connection's other work, other clients, nor committed data.

A real server on 127.0.0.1 port 0 in this process, real SQLite, raw frames.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from server.app import LivesyncApp
from server.config import Config, DatabaseConfig, FunctionsConfig, Limits, ServerConfig
from server.websocket import LivesyncWebSocketProtocol
from tests.helpers.asgi_server import serve_asgi
from tests.helpers.timeouts import REPLY
from tests.server.sync.test_connection import Frame, Peer, query_mods

__all__: list[str] = []

FUNCTIONS = Path(__file__).parent / "limits_functions"
MiB = 1024 * 1024


@contextlib.asynccontextmanager
async def serving(db: Path, limits: Limits) -> AsyncIterator[str]:
    """The http URL of a server with these limits."""
    config = Config(
        server=ServerConfig(),
        functions=FunctionsConfig(FUNCTIONS),
        database=DatabaseConfig(f"sqlite:///{db}"),
        limits=limits,
    )
    options = {"ws": LivesyncWebSocketProtocol, "ws_max_size": config.server.max_message_bytes}
    async with serve_asgi(LivesyncApp(config), lifespan="on", **options) as url:
        yield url


def ws(url: str) -> str:
    return url.replace("http://", "ws://") + "/api/sync"


@pytest.fixture
async def default_url(tmp_path: Path) -> AsyncIterator[str]:
    async with serving(tmp_path / "livesync.db", Limits()) as url:
        yield url


@pytest.fixture
async def small_url(tmp_path: Path) -> AsyncIterator[str]:
    limits = Limits(
        args_bytes=10_000,
        result_bytes=10_000,
        queries_per_connection=5,
        session_id_bytes=64,
        udf_path_bytes=100,
    )
    async with serving(tmp_path / "livesync.db", limits) as url:
        yield url


async def _count(peer: Peer) -> float:
    _, rows = await peer.subscribe("blobs:count", {})
    value: float = rows["value"]
    return value


async def _action(peer: Peer, udf_path: str, args: Frame) -> Frame:
    request_id = peer.next_request_id
    peer.next_request_id += 1
    await peer.send(
        {"type": "Action", "requestId": request_id, "udfPath": udf_path, "args": [args]}
    )
    frames = await peer.until(
        lambda m: m["type"] == "ActionResponse" and m["requestId"] == request_id
    )
    return frames[-1]


# -- documents -------------------------------------------------------------------


async def test_a_document_over_1_mib_fails_its_mutation_naming_size_and_limit(
    default_url: str,
) -> None:
    peer = await Peer.open(ws(default_url))
    big = {"text": "x" * MiB}  # {"text":"xx…"}: 11 bytes more than 1 MiB
    response, _ = await peer.mutation_result("blobs:put", {"doc": big})
    assert response["success"] is False
    assert response["result"] == (
        "Document is too large (1,048,587 bytes; the limit is 1,048,576 bytes)"
    )
    fits = {"text": "x" * (MiB - 11)}
    response, _ = await peer.mutation_result("blobs:put", {"doc": fits})
    assert response["success"] is True
    # A patch is measured as the document it leaves behind.
    response, _ = await peer.mutation_result("blobs:grow", {"id": response["result"], "text": "y"})
    assert response["success"] is False
    assert response["result"].startswith("Document is too large (1,048,577 bytes;")
    assert await _count(peer) == 1
    await peer.close()


async def test_a_document_nested_past_the_limit_fails_its_mutation(default_url: str) -> None:
    peer = await Peer.open(ws(default_url))
    response, _ = await peer.mutation_result("blobs:nest", {"depth": 16})
    assert response["success"] is True
    response, _ = await peer.mutation_result("blobs:nest", {"depth": 17})
    assert response["success"] is False
    assert response["result"] == (
        "Document is nested too deeply (more than 16 levels of objects and arrays)"
    )
    assert await _count(peer) == 1
    await peer.close()


# -- results -----------------------------------------------------------------------


async def test_a_result_over_the_limit_fails_the_query_mutation_and_action(
    small_url: str,
) -> None:
    peer = await Peer.open(ws(small_url))
    _, ok = await peer.subscribe("blobs:repeat", {"text": "ab", "times": 4_000})
    assert ok["type"] == "QueryUpdated" and len(ok["value"]) == 8_000
    _, failed = await peer.subscribe("blobs:repeat", {"text": "ab", "times": 6_000})
    assert failed["type"] == "QueryFailed"
    expected = "Return value of blobs:repeat is too large (12,002 bytes; the limit is 10,000 bytes)"
    assert failed["errorMessage"] == expected

    response, _ = await peer.mutation_result(
        "blobs:put_then_return", {"text": "ab", "times": 6_000}
    )
    assert response["success"] is False
    assert response["result"].startswith("Return value of blobs:put_then_return is too large")
    assert await _count(peer) == 0  # its write was rolled back

    answer = await _action(peer, "blobs:repeat_action", {"text": "ab", "times": 6_000})
    assert answer["success"] is False
    assert answer["result"].startswith("Return value of blobs:repeat_action is too large")

    async with httpx.AsyncClient(timeout=REPLY) as http:
        reply = await http.post(
            small_url + "/api/query",
            json={"path": "blobs:repeat", "args": {"text": "ab", "times": 6_000}},
        )
    assert reply.json()["status"] == "error"
    assert reply.json()["errorMessage"] == expected
    await peer.close()


# -- arguments and paths -----------------------------------------------------------


async def test_arguments_over_the_limit_fail_the_call_and_the_connection_keeps_working(
    small_url: str,
) -> None:
    peer = await Peer.open(ws(small_url))
    big = {"doc": {"text": "x" * 20_000}}
    response, _ = await peer.mutation_result("blobs:put", big)
    assert response["success"] is False
    assert response["result"] == (
        "Arguments are too large (20,021 bytes; the limit is 10,000 bytes)"
    )
    _, failed = await peer.subscribe("blobs:echo", {"value": "x" * 20_000})
    assert failed["type"] == "QueryFailed"
    assert failed["errorMessage"].startswith("Arguments are too large (")
    answer = await _action(peer, "blobs:repeat_action", {"text": "x" * 20_000, "times": 0})
    assert answer["success"] is False
    assert answer["result"].startswith("Arguments are too large (")
    async with httpx.AsyncClient(timeout=REPLY) as http:
        reply = await http.post(
            small_url + "/api/mutation", json={"path": "blobs:put", "args": big}
        )
    assert reply.json()["status"] == "error"
    assert reply.json()["errorMessage"].startswith("Arguments are too large (")
    # Nothing ran, and the socket still serves.
    assert await _count(peer) == 0
    response, _ = await peer.mutation_result("blobs:put", {"doc": {"text": "small"}})
    assert response["success"] is True
    await peer.close()


async def test_a_too_long_udf_path_fails_the_call(small_url: str) -> None:
    peer = await Peer.open(ws(small_url))
    path = "blobs/" + "d" * 200 + ":put"
    response, _ = await peer.mutation_result(path, {"doc": {}})
    assert response["success"] is False
    assert response["result"] == "udfPath is too long (210 bytes; the limit is 100 bytes)"
    _, failed = await peer.subscribe(path, {})
    assert failed["type"] == "QueryFailed"
    assert failed["errorMessage"] == "udfPath is too long (210 bytes; the limit is 100 bytes)"
    async with httpx.AsyncClient(timeout=REPLY) as http:
        reply = await http.post(small_url + "/api/query", json={"path": path, "args": {}})
    assert reply.json()["errorMessage"] == "udfPath is too long (210 bytes; the limit is 100 bytes)"
    await peer.close()


async def test_a_too_long_session_id_closes_the_socket_before_any_mutation(
    small_url: str,
) -> None:
    watcher = await Peer.open(ws(small_url))
    peer = await Peer.open(ws(small_url), session_id="s" * 5000)
    await peer.mutate("blobs:put", {"doc": {"text": "never"}})
    code, reason = await peer.closed()
    assert code == 1002
    assert reason == ("ProtocolError: sessionId is too long (5,000 bytes; the limit is 64 bytes)")
    assert not [m for m in peer.frames if m["type"] == "MutationResponse"]
    assert await _count(watcher) == 0
    await watcher.close()


# -- queries per connection -----------------------------------------------------------


def _adds(first: int, n: int) -> list[Frame]:
    return [
        {"type": "Add", "queryId": q, "udfPath": "blobs:count", "args": [{}]}
        for q in range(first, first + n)
    ]


async def test_too_many_queries_on_one_connection_close_it_with_the_count_and_limit(
    small_url: str,
) -> None:
    bystander = await Peer.open(ws(small_url))
    bystander_id, _ = await bystander.subscribe("blobs:count", {})

    peer = await Peer.open(ws(small_url))
    await peer.modify(*_adds(0, 3))
    await peer.modify(*_adds(3, 2), {"type": "Remove", "queryId": 0})  # 4 in all: fine
    await peer.barrier()
    await peer.modify(*_adds(10, 2))  # 6
    code, reason = await peer.closed()
    assert code == 1008
    assert reason == "TooManyQueries: 6 queries on one connection; the limit is 5"

    one_shot = await Peer.open(ws(small_url))
    await one_shot.modify(*_adds(0, 100_000))
    code, reason = await one_shot.closed()
    assert (code, reason) == (
        1008,
        "TooManyQueries: 100000 queries on one connection; the limit is 5",
    )
    # No query of the refused message ran.
    assert not [m for m in one_shot.frames if m["type"] == "Transition"]

    response, frames = await bystander.mutation_result("blobs:put", {"doc": {"text": "a"}})
    assert response["success"] is True
    assert query_mods(frames, bystander_id)[-1]["value"] == 1
    await bystander.close()


def test_limits_are_json_text_sizes() -> None:
    # The measure the messages quote: compact JSON, UTF-8, no ASCII escaping.
    from server.limits import json_size, nesting_refusal

    value: dict[str, Any] = {"é": ["ü", 1.5]}
    assert json_size(value) == len(
        json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()
    )
    assert nesting_refusal({"a": [{"b": []}]}, 4) is None
    assert nesting_refusal({"a": [{"b": [[]]}]}, 4) is not None
