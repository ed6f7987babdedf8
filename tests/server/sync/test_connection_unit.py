"""SyncConnection's state machine without a socket: a fake transport, a
fake clock and a fake token judge around a real engine and SQLite store.

Each test drives the connection by feeding frames and reads what it sent;
tokens expire when the test moves the clock.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from protocol.values import canonical_json, encode_args
from server.config import Limits, ServerConfig
from server.functions.registry import FunctionRegistry
from server.functions.runner import FunctionRunner
from server.metrics import Metrics
from server.store.sqlite import SqliteStore
from server.sync.connection import SyncConnection
from server.sync.engine import Engine
from server.sync.executions import QueryKey
from tests.helpers.fake_transport import FakeClock, FakeJudge, FakeTransport
from tests.helpers.timeouts import EVENT

FUNCTIONS = Path(__file__).parent / "engine_functions"
NOW = 1_800_000_000.0


@pytest.fixture
async def engine(tmp_path: Path) -> AsyncIterator[Engine]:
    registry = FunctionRegistry.load(FUNCTIONS)
    store = SqliteStore(tmp_path / "unit.db")
    await store.open(registry.index_defs())
    engine = Engine(store, FunctionRunner(registry, store), Metrics())
    yield engine
    await engine.close()
    await store.close()


class Harness:
    """One connection under test, with its fakes."""

    def __init__(self, engine: Engine, config: ServerConfig | None = None) -> None:
        self.engine = engine
        self.transport = FakeTransport()
        self.clock = FakeClock(NOW)
        self.judge = FakeJudge()
        self.metrics = Metrics()
        self.conn = SyncConnection(
            engine,
            self.judge,
            config or ServerConfig(),
            self.transport,
            1,
            self.metrics,
            Limits(),
            clock=self.clock,
        )
        self.task = asyncio.get_running_loop().create_task(self.conn.run())
        self.query_set = 0
        self.identity_version = 0
        self.request_id = 0

    def feed(self, message: dict[str, Any]) -> None:
        self.conn.feed(json.dumps(message))

    def connect(self) -> None:
        self.feed({"type": "Connect", "sessionId": "s1", "connectionCount": 0})

    def subscribe(self, query_id: int, path: str, args: dict[str, Any] | None = None) -> None:
        add = {"type": "Add", "queryId": query_id, "udfPath": path, "args": [args or {}]}
        self.feed(
            {
                "type": "ModifyQuerySet",
                "baseVersion": self.query_set,
                "newVersion": self.query_set + 1,
                "modifications": [add],
            }
        )
        self.query_set += 1

    def authenticate(self, subject: str, ttl: float = 60.0) -> None:
        token = f"{subject}:{self.clock.now + ttl}"
        self.feed(
            {
                "type": "Authenticate",
                "tokenType": "User",
                "value": token,
                "baseVersion": self.identity_version,
            }
        )
        self.identity_version += 1

    def mutate(self, path: str, args: dict[str, Any]) -> int:
        self.request_id += 1
        self.feed(
            {
                "type": "Mutation",
                "requestId": self.request_id,
                "udfPath": path,
                "args": [args],
            }
        )
        return self.request_id

    def gauge(self, state: str) -> float:
        return self.metrics.connections.get(state)

    async def close(self) -> None:
        self.conn.disconnected()
        await asyncio.wait_for(self.task, EVENT)


@pytest.fixture
async def harness(engine: Engine) -> AsyncIterator[Harness]:
    h = Harness(engine)
    yield h
    if not h.task.done():
        await h.close()


def values(transition: dict[str, Any]) -> dict[int, Any]:
    return {m["queryId"]: m.get("value") for m in transition["modifications"]}


# -- queries and the version chain ---------------------------------------


async def test_a_subscription_gets_its_result_and_the_chain_starts_at_zero(
    harness: Harness,
) -> None:
    harness.connect()
    harness.subscribe(0, "notes:by_topic", {"topic": "t"})
    transition = await harness.transport.next()
    assert transition["type"] == "Transition"
    assert transition["startVersion"] == {"querySet": 0, "identity": 0, "ts": "AAAAAAAAAAA="}
    assert transition["endVersion"]["querySet"] == 1
    assert values(transition) == {0: []}


async def test_a_mutation_answer_precedes_the_transition_that_covers_it(
    harness: Harness,
) -> None:
    harness.connect()
    harness.subscribe(0, "notes:by_topic", {"topic": "t"})
    await harness.transport.next()
    request_id = harness.mutate("notes:add", {"topic": "t", "text": "hi"})
    answer = await harness.transport.next()
    assert (answer["type"], answer["requestId"], answer["success"]) == (
        "MutationResponse",
        request_id,
        True,
    )
    transition = await harness.transport.next()
    assert transition["endVersion"]["ts"] == answer["ts"]
    assert values(transition) == {0: ["hi"]}


async def test_a_failed_mutation_carries_its_error_data_and_no_ts(harness: Harness) -> None:
    harness.connect()
    harness.mutate("notes:add_then_fail", {"topic": "x"})
    answer = await harness.transport.next()
    assert answer["success"] is False
    assert answer["result"] == 'Uncaught ConvexError: {"topic":"x"}'
    assert answer["errorData"] == {"topic": "x"}
    assert "ts" not in answer or answer["ts"] is None


async def test_an_unchanged_result_is_not_sent_again(harness: Harness) -> None:
    harness.connect()
    harness.subscribe(0, "notes:by_topic", {"topic": "t"})
    await harness.transport.next()
    harness.mutate("notes:add", {"topic": "other", "text": "x"})  # not read by the query
    await harness.transport.next()  # its answer
    transition = await harness.transport.next()
    assert transition["modifications"] == []


async def test_a_push_from_a_commit_goes_out_inline_when_the_result_is_computed(
    harness: Harness, engine: Engine
) -> None:
    harness.connect()
    harness.subscribe(0, "notes:by_topic", {"topic": "t"})
    await harness.transport.next()
    # Another subscriber makes the engine re-run the query once before waking both.
    other = asyncio.Event()
    key = QueryKey("notes:by_topic", canonical_json(encode_args({"topic": "t"})), "")
    await engine.execute(key, {"topic": "t"}, None, engine.published_ts, other.set)
    await engine.mutate("notes:add", {"topic": "t", "text": "pushed"}, None)
    transition = await harness.transport.next()
    assert values(transition) == {0: ["pushed"]}
    assert harness.metrics.inline_transitions.get() == 1


# -- authentication --------------------------------------------------------


async def test_a_token_with_cached_keys_is_settled_inline_without_the_loop(
    harness: Harness,
) -> None:
    harness.connect()
    harness.subscribe(0, "notes:by_topic", {"topic": "t"})  # does not read auth: shared
    await harness.transport.next()
    harness.authenticate("alice")
    # Settled inside feed(): the Transition is already sent, before any await.
    [transition] = harness.transport.unread()
    assert transition["endVersion"]["identity"] == 1
    assert harness.judge.calls == ["now"]
    assert harness.gauge("authenticated") == 1 and harness.gauge("unauthenticated") == 0


async def test_a_token_being_judged_holds_back_later_messages(harness: Harness) -> None:
    harness.connect()
    harness.judge.fetching = True
    harness.authenticate("alice")
    harness.subscribe(0, "notes:whoami")
    await asyncio.wait_for(harness.judge.asked.wait(), EVENT)
    assert harness.gauge("loading") == 1
    assert harness.transport.unread() == []
    harness.judge.fetched.set()
    transition = await harness.transport.next()
    assert transition["endVersion"]["identity"] == 1
    assert values(transition) == {0: "alice"}
    assert harness.gauge("authenticated") == 1 and harness.gauge("loading") == 0


async def test_a_refused_token_gets_auth_error_and_the_socket_closes(harness: Harness) -> None:
    harness.connect()
    harness.authenticate("bad-user")
    error = await harness.transport.next()
    assert error["type"] == "AuthError"
    assert error["error"] == "Could not verify token for bad-user"
    assert (error["baseVersion"], error["authUpdateAttempted"]) == (0, True)
    assert await harness.transport.wait_closed() == (1000, "AuthError")
    await asyncio.wait_for(harness.task, EVENT)
    assert harness.gauge("unauthenticated") == 0 and harness.gauge("loading") == 0


async def test_a_token_expiring_mid_session_closes_before_the_next_mutation_runs(
    harness: Harness, engine: Engine
) -> None:
    harness.connect()
    harness.authenticate("alice", ttl=60)
    await harness.transport.next()
    harness.clock.advance(60)  # now == exp: expired, with no leeway
    harness.mutate("notes:add", {"topic": "t", "text": "too late"})
    error = await harness.transport.next()
    assert (error["type"], error["authUpdateAttempted"]) == ("AuthError", False)
    assert error["error"] == "Convex token identity expired"
    assert await harness.transport.wait_closed() == (1000, "AuthError")
    ran = await engine.run_query("notes:by_topic", {"topic": "t"}, None, engine.published_ts)
    assert ran.value == []


async def test_the_expiry_timer_closes_an_idle_connection(harness: Harness) -> None:
    harness.connect()
    harness.authenticate("alice", ttl=0.001)  # due at once on the loop's clock...
    await harness.transport.next()
    assert harness.transport.closed is None  # ...but the (fake) wall clock has not passed exp
    harness.clock.advance(1)
    error = await harness.transport.next()
    assert (error["type"], error["authUpdateAttempted"]) == ("AuthError", False)
    assert await harness.transport.wait_closed() == (1000, "AuthError")


async def test_a_refresh_keeps_subscriptions_and_resends_nothing(harness: Harness) -> None:
    harness.connect()
    harness.authenticate("alice", ttl=60)
    harness.subscribe(0, "notes:whoami")
    first = await harness.transport.next()
    while values(first) != {0: "alice"}:
        first = await harness.transport.next()
    harness.clock.advance(50)
    harness.authenticate("alice", ttl=60)  # the client's refresh, before exp
    refreshed = await harness.transport.next()
    assert refreshed["endVersion"]["identity"] == 2
    assert refreshed["modifications"] == []
    harness.clock.advance(20)  # past the first token's exp, not the second's
    harness.mutate("notes:add", {"topic": "t", "text": "still in"})
    answer = await harness.transport.next()
    assert (answer["type"], answer["success"]) == ("MutationResponse", True)


async def test_signing_out_reruns_auth_reading_queries_as_nobody(harness: Harness) -> None:
    harness.connect()
    harness.authenticate("alice")
    harness.subscribe(0, "notes:whoami")
    transition = await harness.transport.next()
    while values(transition) != {0: "alice"}:
        transition = await harness.transport.next()
    harness.feed({"type": "Authenticate", "tokenType": "None", "baseVersion": 1})
    signed_out = await harness.transport.next()
    assert signed_out["endVersion"]["identity"] == 2
    assert values(signed_out) == {0: None}
    assert harness.gauge("unauthenticated") == 1


# -- failures stay with the connection -------------------------------------


async def test_a_binary_frame_is_a_protocol_error(harness: Harness) -> None:
    harness.connect()
    harness.conn.feed(b"\x00\x01")
    code, reason = await harness.transport.wait_closed()
    assert code == 1002 and "binary frames are not supported" in reason
    assert harness.metrics.protocol_errors.get() == 1


async def test_a_frame_before_connect_is_refused(harness: Harness) -> None:
    harness.mutate("notes:add", {"topic": "t", "text": "x"})
    code, reason = await harness.transport.wait_closed()
    assert code == 1002 and "Mutation is not allowed" in reason


async def test_an_inbox_flood_closes_with_too_many_messages(harness: Harness) -> None:
    harness.connect()
    for _ in range(5000):  # all fed before the loop runs once
        harness.feed({"type": "Event", "eventType": "x", "event": None})
    assert await harness.transport.wait_closed() == (
        1008,
        "TooManyMessages: client sent faster than it was served",
    )


async def test_a_client_that_does_not_read_is_cut_off(engine: Engine) -> None:
    h = Harness(engine, ServerConfig(send_timeout=0.05))
    h.connect()
    h.transport.writable = False
    h.subscribe(0, "notes:by_topic", {"topic": "t"})
    code, _ = await h.transport.wait_closed()
    assert code == 1008
    await asyncio.wait_for(h.task, EVENT)


async def test_draining_takes_no_new_frames_and_closes_with_1012(
    harness: Harness, engine: Engine
) -> None:
    harness.connect()
    harness.mutate("notes:add", {"topic": "t", "text": "unsent"})  # queued, not yet taken
    harness.conn.drain()
    assert await harness.transport.wait_closed() == (1012, "ServerShutdown")
    assert harness.transport.unread() == []  # the client re-sends it elsewhere
    ran = await engine.run_query("notes:by_topic", {"topic": "t"}, None, engine.published_ts)
    assert ran.value == []
