"""The official `convex` PyPI client (0.8.1) against livesync.

The client is a PyO3 wrapper around the Rust client. Its blocking calls keep
the GIL while they wait, so running them in helper threads starves every other
thread (a blocking `next()` on a subscription deadlocks the client). The tests
therefore make blocking calls (query, mutation) on the test's own thread, with
pytest-timeout as their deadline (the client checks for signals every second),
and read subscriptions through the client's async iterator under
`asyncio.wait_for`.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from convex import ConvexClient, ConvexError, ConvexInt64, QuerySubscription

from tests.helpers.server import StartServer
from tests.helpers.timeouts import CLIENT, scaled

pytestmark = [pytest.mark.compat, pytest.mark.timeout(90)]

FUNCTIONS_DIR = Path(__file__).resolve().parent / "functions"
# The Rust client's reconnect backoff reaches 15 s; a restart needs more slack.
RECONNECT_WAIT = scaled(45.0)


async def next_matching(
    subscription: QuerySubscription,
    predicate: Callable[[Any], bool],
    *,
    timeout: float = CLIENT,
) -> Any:
    """The first value the subscription yields from now on for which `predicate` holds.

    Query errors (ConvexError) are skipped but kept in the failure message.
    """
    deadline = time.monotonic() + timeout
    seen: list[Any] = []
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise AssertionError(f"no matching value within {timeout} s; seen {seen!r}")
        try:
            value = await asyncio.wait_for(subscription.__anext__(), remaining)
        except TimeoutError:
            continue  # the loop head reports it with what was seen
        except ConvexError as exc:
            seen.append(exc)
            continue
        seen.append(value)
        if predicate(value):
            return value


def bodies(rows: list[dict[str, Any]]) -> list[str]:
    return [row["body"] for row in rows]


@pytest.fixture
def server_url(start_server: StartServer) -> str:
    return start_server(FUNCTIONS_DIR).url


def test_query_returns_current_result(server_url: str) -> None:
    client = ConvexClient(server_url)
    assert client.query("notes:list") == []
    client.mutation("notes:add", {"body": "hello"})
    assert bodies(client.query("notes:list")) == ["hello"]


def test_mutation_returns_the_id_the_query_then_shows(server_url: str) -> None:
    client = ConvexClient(server_url)
    note_id = client.mutation("notes:add", {"body": "kept"})
    assert isinstance(note_id, str)
    [row] = client.query("notes:list")
    assert row["_id"] == note_id
    assert isinstance(row["_creationTime"], float)


async def test_subscription_receives_update_pushed_after_another_clients_mutation(
    server_url: str,
) -> None:
    reader = ConvexClient(server_url)
    subscription = reader.subscribe("notes:list")
    assert await next_matching(subscription, lambda rows: True) == []
    writer = ConvexClient(server_url)
    writer.mutation("notes:add", {"body": "from writer"})
    rows = await next_matching(subscription, lambda rows: "from writer" in bodies(rows))
    assert bodies(rows) == ["from writer"]


def test_convex_int64_and_bytes_round_trip_unchanged(server_url: str) -> None:
    client = ConvexClient(server_url)
    value = {
        "min": ConvexInt64(-(2**63)),
        "max": ConvexInt64(2**63 - 1),
        "zero": ConvexInt64(0),
        "bytes": b"\x00\x01\x7f\x80\xff",
        "float": 1.5,
        "whole": 3,
    }
    result = client.mutation("roundtrip:store", {"value": value})
    assert result["value"] == value
    # The client sends every int as a float64 (3.0); the function gets an int.
    assert result["types"] == {
        "min": "Int64",
        "max": "Int64",
        "zero": "Int64",
        "bytes": "bytes",
        "float": "float",
        "whole": "int",
    }
    assert client.query("roundtrip:latest") == value


def test_app_error_arrives_as_convex_error_with_data(server_url: str) -> None:
    client = ConvexClient(server_url)
    with pytest.raises(ConvexError) as raised:
        client.query("failures:app_error")
    assert raised.value.data == {"code": 1.0, "big": ConvexInt64(7)}


async def test_client_resubscribes_after_server_restart_and_keeps_receiving_updates(
    start_server: StartServer,
) -> None:
    server = start_server(FUNCTIONS_DIR)
    first_writer = ConvexClient(server.url)
    first_writer.mutation("notes:add", {"body": "before restart"})
    reader = ConvexClient(server.url)
    subscription = reader.subscribe("notes:list")
    await next_matching(subscription, lambda rows: bodies(rows) == ["before restart"])

    # Same port, same database file. On reconnect the client re-adds its query
    # as "notes.js:list", which the server must accept.
    server.restart()
    writer = ConvexClient(server.url)
    writer.mutation("notes:add", {"body": "after restart"})

    rows = await next_matching(
        subscription, lambda rows: "after restart" in bodies(rows), timeout=RECONNECT_WAIT
    )
    assert bodies(rows) == ["before restart", "after restart"]


def test_action_runs_a_nested_action_and_relays_its_app_error(server_url: str) -> None:
    client = ConvexClient(server_url)
    result = client.action("actions:add_note_nested", {"body": "nested"})
    assert result["count"] == 1.0
    assert bodies(client.query("notes:list")) == ["nested"]
    with pytest.raises(ConvexError) as raised:
        client.action("actions:relay_refusal")
    assert raised.value.data == {"reason": "refused by the inner action"}
