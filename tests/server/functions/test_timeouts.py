"""Time limits on functions that await too long (server.functions.timeouts).

TimeLimits here are a fraction of a second; every wait has a generous bound, and
timed assertions are upper bounds far below what the unlimited run would take.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import pytest

from server.functions.runner import FunctionRunner
from server.functions.timeouts import TimeLimits
from tests.helpers.timeouts import REPLY

APP = {
    "slow.py": """
        import asyncio

        from server import action, mutation, query

        @query()
        async def wait(ctx):
            await asyncio.sleep(30)
            return "woke"

        STARTED = asyncio.Event()

        @query()
        async def signal_then_wait(ctx):
            STARTED.set()
            await asyncio.sleep(30)

        @query()
        async def quick(ctx):
            return len(await ctx.db.query("notes").collect())

        @query()
        async def stubborn(ctx):
            try:
                await asyncio.sleep(30)
            except asyncio.CancelledError:
                print("cancelled; waiting again")
                await asyncio.sleep(30)
            return "woke"

        @query()
        async def late_return(ctx):
            try:
                await asyncio.sleep(30)
            finally:
                return "too late"

        @mutation()
        async def write_then_wait(ctx):
            await ctx.db.insert("notes", {"text": "never"})
            await ctx.db.query("notes").collect()  # the insert is in SQLite now
            await asyncio.sleep(30)

        @mutation()
        async def add(ctx):
            return await ctx.db.insert("notes", {"text": "kept"})

        @action()
        async def nap(ctx):
            await asyncio.sleep(0.3)
            return "rested"

        @action()
        async def ask_slow_query(ctx):
            return await ctx.run_query("slow:wait")
    """,
}

BOUND = REPLY  # far below the handlers' 30 s sleeps

OpenRunner = Callable[[Any], Any]


@pytest.fixture
async def runner(make_app: Callable[[dict[str, str]], Any], open_runner: OpenRunner) -> Any:
    runner: FunctionRunner = await open_runner(make_app(APP))
    runner.timeouts = TimeLimits(query=0.2, mutation=0.2, action=5.0, blocking=5.0)
    return runner


async def query(runner: FunctionRunner, path: str) -> Any:
    store = runner.store
    return await asyncio.wait_for(runner.run_query(path, {}, None, store.snapshot()), BOUND)


async def test_query_awaiting_past_its_limit_fails_naming_function_and_limit(
    runner: FunctionRunner,
) -> None:
    started = time.monotonic()
    outcome = await query(runner, "slow:wait")
    assert outcome.error_message == (
        "Function slow:wait timed out after 0.2 s (limit: [functions] query_timeout)"
    )
    assert time.monotonic() - started < BOUND / 2


async def test_a_timeout_leaves_the_calling_task_uncancelled(runner: FunctionRunner) -> None:
    await query(runner, "slow:wait")
    task = asyncio.current_task()
    assert task is not None and task.cancelling() == 0
    assert (await query(runner, "slow:quick")).value == 0


async def test_handler_that_catches_the_cancellation_is_not_resumed(
    runner: FunctionRunner,
) -> None:
    outcome = await query(runner, "slow:stubborn")
    assert outcome.error_message is not None and "timed out after 0.2 s" in outcome.error_message
    assert outcome.log_lines == ("[LOG] cancelled; waiting again",)


async def test_value_returned_after_the_deadline_is_still_a_timeout(
    runner: FunctionRunner,
) -> None:
    outcome = await query(runner, "slow:late_return")
    assert outcome.value is None
    assert outcome.error_message is not None and "query_timeout" in outcome.error_message


async def test_cancelling_the_caller_is_not_turned_into_a_timeout(runner: FunctionRunner) -> None:
    runner.timeouts = TimeLimits(query=BOUND)
    started = runner.registry.lookup("slow:signal_then_wait").handler.__globals__["STARTED"]
    task = asyncio.ensure_future(query(runner, "slow:signal_then_wait"))
    await asyncio.wait_for(started.wait(), BOUND)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_mutation_awaiting_past_its_limit_writes_nothing(runner: FunctionRunner) -> None:
    outcome, commit = await asyncio.wait_for(
        runner.run_mutation("slow:write_then_wait", {}, None), BOUND
    )
    assert commit is None
    assert outcome.error_message == (
        "Function slow:write_then_wait timed out after 0.2 s (limit: [functions] mutation_timeout)"
    )
    assert (await query(runner, "slow:quick")).value == 0
    # The writer went on: the next mutation commits.
    outcome, commit = await asyncio.wait_for(runner.run_mutation("slow:add", {}, None), BOUND)
    assert outcome.ok and commit is not None
    assert (await query(runner, "slow:quick")).value == 1


async def test_actions_have_their_own_limit_and_their_queries_keep_theirs(
    runner: FunctionRunner,
) -> None:
    assert (
        await asyncio.wait_for(runner.run_action("slow:nap", {}, None), BOUND)
    ).value == "rested"
    outcome = await asyncio.wait_for(runner.run_action("slow:ask_slow_query", {}, None), BOUND)
    assert outcome.error_message == (
        "Function slow:wait timed out after 0.2 s (limit: [functions] query_timeout)"
    )


async def test_time_spent_waiting_for_the_store_does_not_count(runner: FunctionRunner) -> None:
    # A burst of queries queues for the store's readers; the clock of each
    # stops meanwhile, as Convex's user timeout does during database calls.
    store = runner._store  # noqa: SLF001
    idle = store._idle  # type: ignore[attr-defined]  # noqa: SLF001
    held = [idle.get_nowait() for _ in range(idle.qsize())]
    task = asyncio.ensure_future(query(runner, "slow:quick"))
    await asyncio.sleep(0.5)  # the condition under test: held past the 0.2 s limit
    assert not task.done()
    for conn in held:
        idle.put_nowait(conn)
    outcome = await asyncio.wait_for(task, BOUND)
    assert outcome.ok and outcome.value == 0
