"""The committer and the fan-out path as error boundaries (issue 13, item 1).

A real store (SQLite, then PostgreSQL) and the real runner; the failures are
real ones (a request id neither database can store, a listener that raises),
reached by calling the engine directly, below the protocol's own check, as a
bug elsewhere would.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from protocol.values import canonical_json, encode_args
from server.auth.identity import UserIdentity
from server.config import ServerConfig
from server.functions.outcome import SERVER_ERROR
from server.functions.registry import FunctionRegistry
from server.functions.runner import FunctionRunner
from server.metrics import Metrics
from server.sync.committer import Committed
from server.sync.connection import SyncConnection
from server.sync.engine import Engine
from server.sync.executions import QueryKey
from tests.helpers.stores import StoreBackend, catalogued
from tests.helpers.timeouts import EVENT

__all__: list[str] = []

FUNCTIONS = Path(__file__).parent / "engine_functions"
# Past a 64-bit integer (SQLite's INTEGER, PostgreSQL's bigint): storing or
# looking it up raises (OverflowError, or StoreError from PostgreSQL).
HOSTILE = 2**63


@pytest.fixture
async def engine(store_backend: StoreBackend) -> AsyncIterator[Engine]:
    registry = FunctionRegistry.load(FUNCTIONS)
    store = store_backend.make()
    await store.open(registry.index_defs())
    engine = Engine(store, FunctionRunner(registry, store), Metrics())
    yield engine
    await engine.close()
    await store.close()


def add(engine: Engine, text: str, dedup: tuple[str, int] | None) -> asyncio.Future[Committed]:
    return engine.submit("notes:add", {"topic": "t", "text": text}, None, dedup)


async def texts(engine: Engine, topic: str = "t") -> list[str]:
    key = QueryKey("notes:by_topic", canonical_json(encode_args({"topic": topic})), "")
    ex = await engine.execute(key, {"topic": topic}, None, engine.published_ts, lambda: None)
    return list(ex.outcome.value)


def failed_alone(committed: Committed) -> bool:
    return committed.ts is None and committed.outcome.error_message == SERVER_ERROR


async def test_a_request_whose_retry_lookup_raises_fails_alone_and_the_loop_goes_on(
    engine: Engine,
) -> None:
    # A first request of the session: the committer looks the id up.
    submitted = [add(engine, "a", ("other", 0)), add(engine, "x", ("s", HOSTILE))]
    submitted.append(add(engine, "b", ("other", 1)))
    first, hostile, last = await asyncio.wait_for(asyncio.gather(*submitted), EVENT)
    assert failed_alone(hostile)
    assert first.ts is not None and last.ts is not None
    later = await asyncio.wait_for(add(engine, "c", None), EVENT)
    assert later.ts is not None
    assert engine.committer.dead is None
    assert await texts(engine) == ["a", "b", "c"]


async def test_one_batch_of_retries_and_new_requests_answers_each_on_its_own(
    engine: Engine,
) -> None:
    # Queued together, these form one batch whose retries are looked up in
    # one read: each retry gets its own stored result, a reused id for
    # another call is refused, and only the new requests run.
    done = await asyncio.wait_for(
        asyncio.gather(*(add(engine, f"m{n}", ("s", n)) for n in range(3))), EVENT
    )
    submitted = [
        add(engine, "m2", ("s", 2)),
        add(engine, "new", ("s", 3)),
        add(engine, "m0", ("s", 0)),
        add(engine, "not m1", ("s", 1)),
        add(engine, "fresh", ("t", 0)),
    ]
    again, new, first, reused, fresh = await asyncio.wait_for(asyncio.gather(*submitted), EVENT)
    assert (again.ts, first.ts) == (done[2].ts, done[0].ts)
    assert again.outcome.value_json == done[2].outcome.value_json
    assert reused.ts is None and "already used for another call" in str(
        reused.outcome.error_message
    )
    assert new.ts is not None and fresh.ts is not None and new.ts > done[2].ts
    assert await texts(engine) == ["m0", "m1", "m2", "new", "fresh"]


async def test_a_request_whose_result_cannot_be_stored_fails_alone_not_its_batch(
    engine: Engine,
) -> None:
    # The session committed before: the lookup is skipped, and the id only
    # breaks the batch's COMMIT, which used to fail every mutation in it.
    assert (await asyncio.wait_for(add(engine, "s0", ("s", 0)), EVENT)).ts is not None
    submitted = [add(engine, f"v{n}", ("victim", n)) for n in range(20)]
    submitted.insert(10, add(engine, "x", ("s", HOSTILE)))
    results = await asyncio.wait_for(asyncio.gather(*submitted), EVENT)
    hostile = results.pop(10)
    assert failed_alone(hostile)
    assert all(r.ts is not None and r.outcome is not None and r.outcome.ok for r in results)
    assert await texts(engine) == ["s0", *(f"v{n}" for n in range(20))]
    # Their results were stored: a retry gets the original ts.
    retry = await asyncio.wait_for(add(engine, "v3", ("victim", 3)), EVENT)
    assert retry.ts == results[3].ts
    assert engine.committer.dead is None


async def test_a_listener_that_raises_fails_alone_and_the_commit_is_published(
    engine: Engine,
) -> None:
    def broken() -> None:
        raise RuntimeError("this subscriber's push failed")

    heard = asyncio.Event()
    key_t = QueryKey("notes:by_topic", canonical_json(encode_args({"topic": "t"})), "")
    key_u = QueryKey("notes:by_topic", canonical_json(encode_args({"topic": "u"})), "")
    await engine.execute(key_t, {"topic": "t"}, None, engine.published_ts, broken)
    await engine.execute(key_u, {"topic": "u"}, None, engine.published_ts, heard.set)
    submitted = [
        add(engine, "a", ("s", 0)),
        engine.submit("notes:add", {"topic": "u", "text": "b"}, None, ("s", 1)),
        add(engine, "c", ("s", 2)),
    ]
    results = await asyncio.wait_for(asyncio.gather(*submitted), EVENT)
    assert all(r.outcome is not None and r.outcome.ok for r in results)
    newest = max(r.ts for r in results if r.ts is not None)
    assert engine.published_ts == newest  # moved, and to the commit's ts
    await asyncio.wait_for(heard.wait(), EVENT)  # the other subscriber still heard
    later = await asyncio.wait_for(add(engine, "d", ("s", 3)), EVENT)
    assert later.ts is not None and later.ts > newest
    assert engine.published_ts == later.ts
    assert engine.committer.dead is None
    assert await texts(engine) == ["a", "c", "d"]


async def test_a_group_rolled_back_for_one_mutation_leaves_only_committed_tables_catalogued(
    engine: Engine,
) -> None:
    # Queued together, these form one transaction: the second fails, so the
    # whole transaction rolls back and the first runs again alone. Only the
    # catalog entries of what committed stay, and none is written twice.
    submitted = [
        engine.submit("tables:insert", {"table": "kept"}, None, None),
        engine.submit("tables:insert_then_fail", {"table": "dropped"}, None, None),
        engine.submit("tables:insert", {"table": "kept"}, None, None),
    ]
    kept, dropped, again = await asyncio.wait_for(asyncio.gather(*submitted), EVENT)
    assert dropped.ts is None and kept.ts is not None and again.ts is not None
    assert await catalogued(engine.store.snapshot()) == ["kept"]
    # Its table was never catalogued: the next insert into it catalogues it.
    added = await asyncio.wait_for(
        engine.submit("tables:insert", {"table": "dropped"}, None, None), EVENT
    )
    assert added.ts is not None
    assert await catalogued(engine.store.snapshot()) == ["kept", "dropped"]


async def test_a_cancelled_commit_loop_is_reported_dead_and_restarts_on_the_next_request(
    engine: Engine,
) -> None:
    assert engine.committer.dead is None  # not started yet is not dead
    await asyncio.wait_for(add(engine, "a", None), EVENT)
    task = engine.committer.task
    assert task is not None
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    assert engine.committer.dead == "cancelled"
    assert (await asyncio.wait_for(add(engine, "b", None), EVENT)).ts is not None
    assert engine.committer.dead is None


class Clock:
    """The store's commit clock, moved by the test (ns since the epoch)."""

    def __init__(self) -> None:
        self.now = 1_800_000_000 * 10**9

    def __call__(self) -> int:
        return self.now


async def test_a_retry_within_the_dedup_window_gets_its_result_and_an_older_one_runs_anew(
    store_backend: StoreBackend,
) -> None:
    clock, window = Clock(), 600.0
    registry = FunctionRegistry.load(FUNCTIONS)
    store = store_backend.make(clock=clock)
    await store.open(registry.index_defs())
    engine = Engine(store, FunctionRunner(registry, store), Metrics())
    try:
        first = await asyncio.wait_for(add(engine, "once", ("s", 0)), EVENT)
        assert first.ts is not None
        clock.now += int((window - 1) * 1e9)
        assert await engine.prune_mutation_results(clock.now, window) == 0
        replay = await asyncio.wait_for(add(engine, "once", ("s", 0)), EVENT)
        assert replay.ts == first.ts  # answered from the store: the original ts
        assert replay.outcome.value_json == first.outcome.value_json
        clock.now += int(2e9)  # now past the window
        assert await engine.prune_mutation_results(clock.now, window) == 1
        assert await store.get_mutation_result("s", 0) is None
        late = await asyncio.wait_for(add(engine, "once", ("s", 0)), EVENT)
        assert late.ts is not None and late.ts > first.ts
        assert await texts(engine) == ["once", "once"]
    finally:
        await engine.close()
        await store.close()


# -- dedup bound to the call (issue 13, item 5) ---------------------------------


def user(subject: str) -> UserIdentity:
    return UserIdentity(f"https://issuer.example|{subject}", subject, "https://issuer.example")


def refused_as_reused(committed: Committed) -> bool:
    outcome = committed.outcome
    return (
        committed.ts is None
        and outcome is not None
        and outcome.error_message is not None
        and outcome.error_message.startswith("Request 0 of this session was already used")
    )


async def test_a_replay_of_the_same_call_under_the_same_user_gets_the_stored_result(
    engine: Engine,
) -> None:
    alice = user("alice")
    first = await asyncio.wait_for(
        engine.submit("notes:add", {"text": "hi", "topic": "t"}, alice, ("s", 0)), EVENT
    )
    # Another token of the same user (a refresh) and the same args in another key order.
    again = await asyncio.wait_for(
        engine.submit("notes:add", {"topic": "t", "text": "hi"}, user("alice"), ("s", 0)),
        EVENT,
    )
    assert again.ts == first.ts
    assert again.outcome.value_json == first.outcome.value_json is not None
    assert await texts(engine) == ["hi"]


@pytest.mark.parametrize(
    ("path", "args", "who"),
    [
        pytest.param("notes:add", {"topic": "t", "text": "mine"}, "mallory", id="another-user"),
        pytest.param("notes:add", {"topic": "t", "text": "other"}, "alice", id="other-args"),
        pytest.param("notes:add_then_fail", {"topic": "t"}, "alice", id="other-function"),
        pytest.param("notes:add", {"topic": "t", "text": "mine"}, None, id="signed-out"),
    ],
)
async def test_a_reused_request_id_for_another_call_is_refused_and_reveals_nothing(
    engine: Engine, path: str, args: dict[str, str], who: str | None
) -> None:
    original = await asyncio.wait_for(
        engine.submit("notes:add", {"topic": "t", "text": "mine"}, user("alice"), ("s", 0)),
        EVENT,
    )
    identity = None if who is None else user(who)
    reused = await asyncio.wait_for(engine.submit(path, args, identity, ("s", 0)), EVENT)
    assert refused_as_reused(reused)
    assert reused.outcome.value_json is None
    assert await texts(engine) == ["mine"]  # nothing ran
    # The owner's own retry still gets its answer: the row was not replaced.
    retry = await asyncio.wait_for(
        engine.submit("notes:add", {"topic": "t", "text": "mine"}, user("alice"), ("s", 0)),
        EVENT,
    )
    assert retry.ts == original.ts


async def test_a_result_stored_before_fingerprints_existed_is_not_handed_out(
    engine: Engine, store_backend: StoreBackend
) -> None:
    original = await asyncio.wait_for(add(engine, "old", ("s", 0)), EVENT)
    # What an older livesync left: the same row without a fingerprint.
    await store_backend.fetch("UPDATE mutation_results SET fingerprint = NULL")
    await engine.store.close()
    await engine.store.open(engine.runner.registry.index_defs())
    fresh = Engine(engine.store, engine.runner, Metrics())
    try:
        replay = await asyncio.wait_for(add(fresh, "old", ("s", 0)), EVENT)
        assert replay.ts is None and replay.outcome is not None
        assert replay.outcome.error_message == (
            "Request 0 of this session was committed by an earlier server version;"
            " its result is not returned"
        )
        assert original.ts is not None
        assert await texts(fresh) == ["old"]
    finally:
        await fresh.close()


# -- a connection whose push fails -------------------------------------------------


class FailingTransport:
    """A socket that takes frames until told to fail, then raises on send:
    the I/O edge of a real SyncConnection, recorded."""

    def __init__(self) -> None:
        self.frames: list[dict[str, object]] = []
        self.sent = asyncio.Event()
        self.fail = False
        self.closed: tuple[int, str] | None = None
        self.closed_event = asyncio.Event()

    def ready(self) -> bool:
        return True

    def send_now(self, text: str) -> None:
        if self.fail:
            raise ConnectionResetError("the socket went away mid-send")
        self.frames.append(json.loads(text))
        self.sent.set()

    async def send_text(self, text: str) -> None:
        self.send_now(text)

    async def close(self, code: int, reason: str) -> None:
        self.closed = (code, reason)
        self.closed_event.set()


async def test_a_connection_whose_inline_push_fails_closes_alone_with_1011(
    engine: Engine,
) -> None:
    transport = FailingTransport()
    conn = SyncConnection(engine, None, ServerConfig(), transport, 1, Metrics())
    task = asyncio.create_task(conn.run())
    try:
        conn.feed(json.dumps({"type": "Connect", "sessionId": "s", "connectionCount": 0}))
        add_t = {"type": "Add", "queryId": 0, "udfPath": "notes:by_topic", "args": [{"topic": "t"}]}
        modify = {"type": "ModifyQuerySet", "baseVersion": 0, "newVersion": 1}
        conn.feed(json.dumps({**modify, "modifications": [add_t]}))
        await asyncio.wait_for(transport.sent.wait(), EVENT)
        # A second subscriber makes the engine re-run the query and then push
        # to the connection inline, from the fan-out.
        other = asyncio.Event()
        key_t = QueryKey("notes:by_topic", canonical_json(encode_args({"topic": "t"})), "")
        await engine.execute(key_t, {"topic": "t"}, None, engine.published_ts, other.set)
        transport.fail = True
        result = await asyncio.wait_for(
            engine.mutate("notes:add", {"topic": "t", "text": "x"}, None), EVENT
        )
        assert result.outcome.ok
        await asyncio.wait_for(transport.closed_event.wait(), EVENT)
        assert transport.closed == (1011, "InternalServerError")
        await asyncio.wait_for(other.wait(), EVENT)  # the other subscriber heard
        await asyncio.wait_for(task, EVENT)
        later = await asyncio.wait_for(add(engine, "y", None), EVENT)
        assert later.ts is not None and engine.committer.dead is None
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
