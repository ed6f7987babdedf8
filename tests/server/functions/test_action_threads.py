"""Actions on threads of their own (server.functions.action_threads)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from server.functions.action_threads import GRACE
from server.functions.registry import FunctionRegistry
from server.functions.runner import FunctionRunner
from server.functions.timeouts import TimeLimits
from server.metrics import Metrics
from server.store.sqlite import SqliteStore
from tests.helpers.runner import AppRunner
from tests.helpers.timeouts import REPLY

FUNCTIONS = Path(__file__).parents[1] / "limits_functions"
LIMIT = 0.3
BOUND = REPLY


@pytest.fixture
def metrics() -> Metrics:
    return Metrics()


@pytest.fixture
async def runner(tmp_path: Path, metrics: Metrics) -> AsyncIterator[FunctionRunner]:
    registry = FunctionRegistry.load(FUNCTIONS)
    store = SqliteStore(tmp_path / "db.sqlite")
    await store.open(registry.index_defs())
    yield AppRunner(registry, store, timeouts=TimeLimits(action=LIMIT), metrics=metrics)
    await store.close()


async def texts(runner: FunctionRunner) -> list[str]:
    snapshot = runner._store.snapshot()  # noqa: SLF001
    return list((await runner.run_query("notes:texts", {}, None, snapshot)).value)


def action_thread(path: str) -> threading.Thread:
    (thread,) = [t for t in threading.enumerate() if t.name == f"livesync action {path}"]
    return thread


async def test_a_blocking_action_leaves_the_loop_free(runner: FunctionRunner) -> None:
    runner.timeouts = TimeLimits(action=BOUND)
    action = asyncio.ensure_future(runner.run_action("slow:block", {"seconds": 2.0}, None))
    # Scheduled after the action started: on the loop, it would wait 2 s.
    assert await asyncio.wait_for(texts(runner), BOUND) == []
    assert not action.done()
    assert (await asyncio.wait_for(action, BOUND)).value == "slept"


async def test_a_spinning_action_times_out_and_its_thread_is_stopped(
    runner: FunctionRunner, metrics: Metrics
) -> None:
    outcome = await asyncio.wait_for(runner.run_action("slow:spin_action", {}, None), BOUND)
    assert outcome.error_message == (
        f"Function slow:spin_action timed out after {LIMIT:g} s (limit: [functions] action_timeout)"
    )
    assert metrics.abandoned_threads.get() == 1
    assert metrics.function_timeouts.get("action") == 1
    threads = [t for t in threading.enumerate() if t.name == "livesync action slow:spin_action"]
    for thread in threads:
        thread.join(BOUND)
        assert not thread.is_alive()


async def test_an_abandoned_action_cannot_write_when_it_wakes(runner: FunctionRunner) -> None:
    seconds = LIMIT + GRACE + 1.0  # it wakes after its caller got the timeout
    outcome = await asyncio.wait_for(
        runner.run_action("slow:sleep_then_write", {"seconds": seconds}, None), BOUND
    )
    assert outcome.error_message is not None and "action_timeout" in outcome.error_message
    thread = action_thread("slow:sleep_then_write")
    await asyncio.to_thread(thread.join, BOUND)
    assert not thread.is_alive()
    assert await texts(runner) == []


async def test_a_cancelled_action_ends_and_its_thread_with_it(runner: FunctionRunner) -> None:
    runner.timeouts = TimeLimits(action=BOUND * 3)
    waiting = runner.registry.lookup("slow:wait_action").handler.__globals__["WAITING"]
    task = asyncio.ensure_future(runner.run_action("slow:wait_action", {}, None))
    assert await asyncio.to_thread(waiting.wait, BOUND)
    thread = action_thread("slow:wait_action")
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await asyncio.to_thread(thread.join, BOUND)
    assert not thread.is_alive()
