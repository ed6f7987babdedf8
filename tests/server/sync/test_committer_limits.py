"""The committer under time limits: a mutation that overruns fails alone, its
writes are rolled back, and the write path moves on to the next mutation."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from server.functions.registry import FunctionRegistry
from server.functions.runner import FunctionRunner
from server.functions.timeouts import TimeLimits
from server.metrics import Metrics
from server.store.sqlite import SqliteStore
from server.sync.engine import Engine
from tests.helpers.timeouts import REPLY

FUNCTIONS = Path(__file__).parents[1] / "limits_functions"
LIMIT = 0.3
BOUND = REPLY  # far below the 30 s the slow mutation would hold the writer


@pytest.fixture
async def engine(tmp_path: Path) -> AsyncIterator[Engine]:
    registry = FunctionRegistry.load(FUNCTIONS)
    store = SqliteStore(tmp_path / "engine.db")
    await store.open(registry.index_defs())
    metrics = Metrics()
    runner = FunctionRunner(registry, store, timeouts=TimeLimits(mutation=LIMIT), metrics=metrics)
    engine = Engine(store, runner, metrics)
    yield engine
    await engine.close()
    await store.close()


async def texts(engine: Engine) -> list[str]:
    outcome = await engine.runner.run_query("notes:texts", {}, None, engine.store.snapshot())
    assert outcome.ok
    return list(outcome.value)


async def test_a_waiting_mutation_holds_the_writer_no_longer_than_its_limit(
    engine: Engine,
) -> None:
    slow = engine.submit("slow:write_then_wait", {}, None, ("s1", 1))
    started = time.monotonic()
    fast = engine.submit("notes:add", {"text": "from another client"}, None, ("s2", 1))
    committed = await asyncio.wait_for(fast, BOUND)
    assert committed.ts is not None and committed.ts == engine.published_ts
    assert time.monotonic() - started < BOUND / 2
    failed, ts = await asyncio.wait_for(slow, BOUND)
    assert not failed.ok and ts is None
    assert failed.error_message == (
        f"Function slow:write_then_wait timed out after {LIMIT:g} s "
        "(limit: [functions] mutation_timeout)"
    )
    assert await texts(engine) == ["from another client"]
    assert await engine.store.get_mutation_result("s1", 1) is None
    assert engine.metrics.function_timeouts.get("mutation") == 1


async def test_mutations_batched_around_a_timed_out_one_each_commit_once(
    engine: Engine,
) -> None:
    # All three are queued before the committer runs, so they share a batch:
    # the timeout rolls it back, the first is run again alone, the last next.
    before = engine.submit("notes:add", {"text": "before"}, None, None)
    slow = engine.submit("slow:write_then_wait", {}, None, None)
    after = engine.submit("notes:add", {"text": "after"}, None, None)
    results = await asyncio.wait_for(asyncio.gather(before, slow, after), BOUND)
    assert [r.ts is not None for r in results] == [True, False, True]
    assert await texts(engine) == ["before", "after"]
