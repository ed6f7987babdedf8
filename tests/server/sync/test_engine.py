"""The engine with a real store (SQLite, then PostgreSQL) and the real
runner, without sockets."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from protocol.values import canonical_json, encode_args
from server.functions.registry import FunctionRegistry
from server.functions.runner import FunctionRunner
from server.metrics import Metrics
from server.sync.engine import Engine
from server.sync.executions import Execution, QueryKey
from tests.helpers.stores import StoreBackend
from tests.helpers.timeouts import EVENT

FUNCTIONS = Path(__file__).parent / "engine_functions"


@pytest.fixture
async def engine(store_backend: StoreBackend) -> AsyncIterator[Engine]:
    registry = FunctionRegistry.load(FUNCTIONS)
    store = store_backend.make()
    await store.open(registry.index_defs())
    yield Engine(store, FunctionRunner(registry, store), Metrics())
    await store.close()


def key(topic: str) -> QueryKey:
    return QueryKey("notes:by_topic", canonical_json(encode_args({"topic": topic})), "")


class Listener:
    def __init__(self) -> None:
        self.calls = 0
        self.called = asyncio.Event()

    def __call__(self) -> None:
        self.calls += 1
        self.called.set()


async def subscribe(engine: Engine, topic: str, listener: Listener) -> Execution:
    return await engine.execute(key(topic), {"topic": topic}, None, engine.published_ts, listener)


async def test_a_commit_invalidates_only_executions_whose_range_it_touched(engine: Engine) -> None:
    a, b = Listener(), Listener()
    ex_a = await subscribe(engine, "a", a)
    ex_b = await subscribe(engine, "b", b)
    result = await engine.mutate("notes:add", {"topic": "a", "text": "x"}, None)
    assert result.outcome.ok and result.ts == engine.published_ts
    assert (a.calls, b.calls) == (1, 0)
    assert not ex_a.valid_at(engine.published_ts)
    assert ex_b.valid_at(engine.published_ts)


async def test_identical_subscriptions_share_one_execution(engine: Engine) -> None:
    first, second = Listener(), Listener()
    ex1 = await subscribe(engine, "a", first)
    ex2 = await subscribe(engine, "a", second)
    assert ex1 is ex2
    assert engine.metrics.query_executions.get("notes:by_topic") == 1
    await engine.mutate("notes:add", {"topic": "a", "text": "x"}, None)
    # Two subscribers: the engine re-runs the query once, then wakes both.
    await asyncio.wait_for(asyncio.gather(first.called.wait(), second.called.wait()), 5)
    assert (first.calls, second.calls) == (1, 1)
    assert engine.metrics.query_executions.get("notes:by_topic") == 2
    fresh = await subscribe(engine, "a", first)
    assert fresh.outcome.value == ["x"]
    assert engine.metrics.query_executions.get("notes:by_topic") == 2  # adopted, not re-run


async def test_mutations_called_from_an_action_are_published(engine: Engine) -> None:
    listener = Listener()
    await subscribe(engine, "a", listener)
    result = await engine.run_action("notes:add_via_action", {"topic": "a", "text": "y"}, None)
    assert result.ok
    assert listener.calls == 1


async def test_a_retried_request_returns_the_first_result_without_running_again(
    engine: Engine,
) -> None:
    first = await engine.submit("notes:add", {"topic": "a", "text": "once"}, None, ("s", 0))
    again = await engine.submit("notes:add", {"topic": "a", "text": "once"}, None, ("s", 0))
    assert again.ts == first.ts
    assert again.outcome.value_json == first.outcome.value_json
    ex = await subscribe(engine, "a", Listener())
    assert ex.outcome.value == ["once"]


async def test_a_released_execution_no_longer_receives_invalidations(engine: Engine) -> None:
    listener = Listener()
    ex = await subscribe(engine, "a", listener)
    engine.release(ex, listener)
    await engine.mutate("notes:add", {"topic": "a", "text": "x"}, None)
    assert listener.calls == 0


async def test_a_commit_landing_while_a_query_runs_wakes_its_subscriber(engine: Engine) -> None:
    handler = engine.runner.registry.lookup("notes:gated").handler
    started, gate = handler.__globals__["STARTED"], handler.__globals__["GATE"]
    started.clear()
    gate.clear()
    listener = Listener()
    gated = QueryKey("notes:gated", key("a").args, "")
    task = asyncio.create_task(
        engine.execute(gated, {"topic": "a"}, None, engine.published_ts, listener)
    )
    await asyncio.wait_for(started.wait(), 5)
    await engine.mutate("notes:add", {"topic": "a", "text": "late"}, None)
    gate.set()
    ex = await asyncio.wait_for(task, EVENT)
    assert ex.outcome.value == []  # it ran at the older snapshot...
    assert not ex.valid_at(engine.published_ts)
    assert listener.calls == 1  # ...and its subscriber is told to re-run


async def test_concurrent_runs_for_different_users_share_an_identity_free_query(
    engine: Engine,
) -> None:
    handler = engine.runner.registry.lookup("notes:gated").handler
    started, gate = handler.__globals__["STARTED"], handler.__globals__["GATE"]
    started.clear()
    gate.clear()
    keys = [QueryKey("notes:gated", key("a").args, user) for user in ("alice", "bob", "carol")]
    ts = engine.published_ts
    tasks = [
        asyncio.create_task(engine.execute(k, {"topic": "a"}, None, ts, Listener())) for k in keys
    ]
    await asyncio.wait_for(started.wait(), 5)
    gate.set()
    results = await asyncio.wait_for(asyncio.gather(*tasks), 5)
    assert results[0] is results[1] is results[2]
    assert engine.metrics.query_executions.get("notes:gated") == 1


async def test_a_failing_mutation_in_a_batch_rolls_back_alone(engine: Engine) -> None:
    submitted = [
        engine.submit("notes:add", {"topic": "b", "text": "first"}, None, None),
        engine.submit("notes:add_then_fail", {"topic": "b"}, None, None),
        engine.submit("notes:add", {"topic": "b", "text": "third"}, None, None),
    ]
    first, failed, third = await asyncio.wait_for(asyncio.gather(*submitted), 5)
    assert first.outcome.ok
    assert failed.ts is None
    assert failed.outcome.error_data() == {"topic": "b"}
    assert third.ts is not None and first.ts is not None and third.ts >= first.ts
    ex = await subscribe(engine, "b", Listener())
    assert ex.outcome.value == ["first", "third"]


async def test_queued_mutations_share_commits_and_keep_their_order(engine: Engine) -> None:
    submitted = [
        engine.submit("notes:add", {"topic": "c", "text": str(n)}, None, ("s", n))
        for n in range(20)
    ]
    results = await asyncio.wait_for(asyncio.gather(*submitted), 5)
    stamps = [r.ts for r in results]
    assert stamps == sorted(stamps)  # type: ignore[type-var]
    assert engine.committer.batches < 20  # grouped
    ex = await subscribe(engine, "c", Listener())
    assert ex.outcome.value == [str(n) for n in range(20)]
    retry = await engine.submit("notes:add", {"topic": "c", "text": "3"}, None, ("s", 3))
    assert retry.ts == results[3].ts


def page_key(journal: str | None) -> QueryKey:
    args = {"topic": "a", "paginationOpts": {"numItems": 2.0, "cursor": None}}
    return QueryKey("notes:page", canonical_json(encode_args(args)), "", journal)


async def run_page(engine: Engine, journal: str | None, listener: Listener) -> Execution:
    args = {"topic": "a", "paginationOpts": {"numItems": 2.0, "cursor": None}}
    return await engine.execute(page_key(journal), args, None, engine.published_ts, listener)


async def test_page_runs_share_only_with_the_same_journal_and_rerun_with_the_pinned_end(
    engine: Engine,
) -> None:
    for text in ("1", "2", "3"):
        await engine.mutate("notes:add", {"topic": "a", "text": text}, None)
    fresh = await run_page(engine, None, Listener())
    journal = fresh.outcome.journal
    assert journal is not None and fresh.key.journal is None
    assert fresh.next_key() == page_key(journal).shared()
    first, second = Listener(), Listener()
    pinned = await run_page(engine, journal, first)
    assert pinned is not fresh  # another journal: another execution
    assert await run_page(engine, journal, second) is pinned
    assert engine.metrics.query_executions.get("notes:page") == 2
    # Newest first, a new row lands in the first page: both subscribers are
    # woken once, after one re-run that replays the pinned end.
    await engine.mutate("notes:add", {"topic": "a", "text": "4"}, None)
    await asyncio.wait_for(asyncio.gather(first.called.wait(), second.called.wait()), 5)
    rerun = engine.cached(page_key(journal), engine.published_ts)
    assert rerun is not None and rerun.outcome.journal == journal
    assert [row["text"] for row in rerun.outcome.value["page"]] == ["4", "3", "2"]
    assert engine.metrics.query_executions.get("notes:page") == 3
