"""The official `convex` PyPI client (0.8.1) against livesync.

The client is blocking (a PyO3 wrapper around the Rust client). Every call
runs in a daemon thread and is awaited with a deadline, so a server that never
answers fails the test instead of hanging it; subscriptions are iterated in a
thread that hands each value to a queue the test waits on.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import pytest
from convex import ConvexClient, ConvexError, ConvexInt64

from tests.helpers.server import StartServer

pytestmark = pytest.mark.compat

FUNCTIONS_DIR = Path(__file__).resolve().parent / "functions"
WAIT = 20.0
# Rust client reconnect backoff tops out at 15 s; a restart needs more slack.
RECONNECT_WAIT = 40.0

T = TypeVar("T")


def blocking(fn: Callable[..., T], *args: Any, timeout: float = WAIT) -> T:
    """Run one blocking client call in a daemon thread; fail if it outlives `timeout`."""
    outcome: queue.Queue[tuple[bool, Any]] = queue.Queue()

    def target() -> None:
        try:
            outcome.put((True, fn(*args)))
        except BaseException as exc:  # handed to the test thread, which re-raises it
            outcome.put((False, exc))

    threading.Thread(target=target, daemon=True).start()
    try:
        ok, value = outcome.get(timeout=timeout)
    except queue.Empty:
        raise AssertionError(
            f"{getattr(fn, '__name__', fn)}{args} gave no answer in {timeout} s"
        ) from None
    if not ok:
        raise value
    return value  # type: ignore[no-any-return]


class SubscriptionReader:
    """Iterates a `QuerySubscription` in a daemon thread; the test waits on what it yields."""

    def __init__(self, client: ConvexClient, name: str, args: dict[str, Any] | None = None):
        self.seen: list[Any] = []
        self._items: queue.Queue[tuple[str, Any]] = queue.Queue()
        self._subscription = blocking(client.subscribe, name, args)
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:
        while True:
            try:
                self._items.put(("value", next(self._subscription)))
            except ConvexError as exc:
                self._items.put(("error", exc))
            except BaseException as exc:  # the subscription is over; tell the waiter why
                self._items.put(("end", exc))
                return

    def next_matching(self, predicate: Callable[[Any], bool], *, timeout: float = WAIT) -> Any:
        """The first value from now on for which `predicate` holds."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                kind, item = self._items.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                raise AssertionError(
                    f"no matching value within {timeout} s; seen {self.seen!r}"
                ) from None
            if kind == "end":
                raise AssertionError(f"the subscription ended: {item!r}; seen {self.seen!r}")
            self.seen.append(item)
            if kind == "value" and predicate(item):
                return item


def bodies(rows: list[dict[str, Any]]) -> list[str]:
    return [row["body"] for row in rows]


@pytest.fixture
def server_url(start_server: StartServer) -> str:
    return start_server(FUNCTIONS_DIR).url


def test_query_returns_current_result(server_url: str) -> None:
    client = ConvexClient(server_url)
    assert blocking(client.query, "notes:list") == []
    blocking(client.mutation, "notes:add", {"body": "hello"})
    assert bodies(blocking(client.query, "notes:list")) == ["hello"]


def test_mutation_returns_the_id_the_query_then_shows(server_url: str) -> None:
    client = ConvexClient(server_url)
    note_id = blocking(client.mutation, "notes:add", {"body": "kept"})
    assert isinstance(note_id, str)
    [row] = blocking(client.query, "notes:list")
    assert row["_id"] == note_id
    assert isinstance(row["_creationTime"], float)


def test_subscription_receives_update_pushed_after_another_clients_mutation(
    server_url: str,
) -> None:
    reader = SubscriptionReader(ConvexClient(server_url), "notes:list")
    assert reader.next_matching(lambda rows: True) == []
    writer = ConvexClient(server_url)
    blocking(writer.mutation, "notes:add", {"body": "from writer"})
    rows = reader.next_matching(lambda rows: "from writer" in bodies(rows))
    assert bodies(rows) == ["from writer"]


def test_convex_int64_and_bytes_round_trip_unchanged(server_url: str) -> None:
    client = ConvexClient(server_url)
    value = {
        "min": ConvexInt64(-(2**63)),
        "max": ConvexInt64(2**63 - 1),
        "zero": ConvexInt64(0),
        "bytes": b"\x00\x01\x7f\x80\xff",
        "float": 1.5,
    }
    result = blocking(client.mutation, "roundtrip:store", {"value": value})
    assert result["value"] == value
    assert result["types"] == {
        "min": "int",
        "max": "int",
        "zero": "int",
        "bytes": "bytes",
        "float": "float",
    }
    assert blocking(client.query, "roundtrip:latest") == value


def test_app_error_arrives_as_convex_error_with_data(server_url: str) -> None:
    client = ConvexClient(server_url)
    with pytest.raises(ConvexError) as raised:
        blocking(client.query, "failures:app_error")
    assert raised.value.data == {"code": ConvexInt64(1)}


def test_client_resubscribes_after_server_restart_and_keeps_receiving_updates(
    start_server: StartServer,
) -> None:
    server = start_server(FUNCTIONS_DIR)
    first_writer = ConvexClient(server.url)
    blocking(first_writer.mutation, "notes:add", {"body": "before restart"})
    reader = SubscriptionReader(ConvexClient(server.url), "notes:list")
    reader.next_matching(lambda rows: bodies(rows) == ["before restart"])

    # Same port, same database file. On reconnect the client re-adds its query
    # as "notes.js:list", which the server must accept.
    server.restart()
    writer = ConvexClient(server.url)
    blocking(writer.mutation, "notes:add", {"body": "after restart"}, timeout=RECONNECT_WAIT)

    rows = reader.next_matching(
        lambda rows: "after restart" in bodies(rows), timeout=RECONNECT_WAIT
    )
    assert bodies(rows) == ["before restart", "after restart"]
