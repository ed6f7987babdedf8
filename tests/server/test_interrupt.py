"""server.interrupt: app code that holds the event loop is stopped.

The first tests pin the CPython behaviour the module relies on: an exception
raised by a Python signal handler comes out of a pure-Python loop and out of
a blocking `time.sleep` in the main thread. If a CPython release changes
that, they fail before the server's guarantees silently do.
"""

from __future__ import annotations

import asyncio
import signal
import sys
import threading
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from types import FrameType
from typing import Any

import pytest

from server.functions.registry import FunctionRegistry
from server.functions.runner import FunctionRunner
from server.functions.timeouts import Interrupted, TimeLimits, limited
from server.interrupt import SIGNAL, LoopWatchdog, interrupt_thread, interruptible
from server.metrics import Metrics
from server.store.sqlite import SqliteStore
from tests.helpers.runner import AppRunner
from tests.helpers.timeouts import REPLY

FUNCTIONS = Path(__file__).parent / "limits_functions"
BOUND = REPLY


class Stop(BaseException):
    pass


@pytest.fixture
def raising_handler() -> Iterator[threading.Event]:
    """SIGURG raises Stop in the main thread; the event is set once it has."""
    stopped = threading.Event()

    def handler(signum: int, frame: FrameType | None) -> None:
        raise Stop

    previous = signal.signal(SIGNAL, handler)
    yield stopped
    signal.signal(SIGNAL, previous)


def keep_signalling(stopped: threading.Event) -> threading.Thread:
    main = threading.main_thread().ident
    assert main is not None

    def run() -> None:
        # Until the main thread reports it stopped: it may not be blocked yet.
        while not stopped.wait(0.02):
            signal.pthread_kill(main, SIGNAL)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def test_cpython_signal_handler_exception_stops_a_pure_python_loop(
    raising_handler: threading.Event,
) -> None:
    thread = keep_signalling(raising_handler)
    deadline = time.monotonic() + BOUND
    with pytest.raises(Stop):
        while time.monotonic() < deadline:
            pass
    raising_handler.set()
    thread.join(BOUND)
    assert time.monotonic() < deadline


def test_cpython_signal_handler_exception_stops_a_blocking_sleep(
    raising_handler: threading.Event,
) -> None:
    thread = keep_signalling(raising_handler)
    started = time.monotonic()
    with pytest.raises(Stop):
        time.sleep(BOUND * 3)
    raising_handler.set()
    thread.join(BOUND)
    assert time.monotonic() - started < BOUND


# -- which frames may be interrupted ---------------------------------------------


def probe() -> bool:
    return interruptible(sys._getframe())


async def app_code() -> bool:
    return probe()


async def app_code_calling_asyncio() -> bool:
    loop = asyncio.get_running_loop()
    # asyncio's Handle._run sits between the trampoline and probe().
    result: list[bool] = []
    asyncio.Handle(lambda: result.append(probe()), (), loop)._run()
    return result[0]


async def test_only_app_code_under_a_trampoline_is_interruptible() -> None:
    assert await limited(app_code(), "t:app", "query", TimeLimits()) is True
    assert await limited(app_code_calling_asyncio(), "t:asyncio", "query", TimeLimits()) is False
    assert probe() is False  # no trampoline at all


# -- the watchdog with the real runner --------------------------------------------


@pytest.fixture
def metrics() -> Metrics:
    return Metrics()


@pytest.fixture
async def runner(tmp_path: Path, metrics: Metrics) -> AsyncIterator[FunctionRunner]:
    registry = FunctionRegistry.load(FUNCTIONS)
    store = SqliteStore(tmp_path / "db.sqlite")
    await store.open(registry.index_defs())
    watchdog = LoopWatchdog(metrics)
    watchdog.start()
    runner = AppRunner(
        registry, store, timeouts=TimeLimits(query=0.3, mutation=0.3, action=BOUND, blocking=0.3)
    )
    yield runner
    watchdog.stop()
    await store.close()


async def run_query(runner: FunctionRunner, path: str) -> Any:
    return await runner.run_query(path, {}, None, runner.store.snapshot())


async def test_a_spinning_query_is_interrupted_with_a_timeout(
    runner: FunctionRunner, metrics: Metrics
) -> None:
    started = time.monotonic()
    outcome = await run_query(runner, "slow:spin")
    assert outcome.error_message == (
        "Function slow:spin timed out after 0.3 s (limit: [functions] query_timeout)"
    )
    assert time.monotonic() - started < BOUND / 2
    assert metrics.loop_interrupts.get() >= 1
    # The loop and the runner go on.
    assert (await run_query(runner, "notes:texts")).value == []


async def test_a_sleeping_query_is_woken_and_fails(runner: FunctionRunner) -> None:
    started = time.monotonic()
    outcome = await run_query(runner, "slow:sleep")
    assert outcome.error_message is not None and "query_timeout" in outcome.error_message
    assert time.monotonic() - started < 3.0  # time.sleep(5) would take 5 s


async def test_a_spinning_mutation_is_interrupted_and_writes_nothing(
    runner: FunctionRunner,
) -> None:
    outcome, commit = await runner.run_mutation("slow:write_then_spin", {}, None)
    assert commit is None
    assert outcome.error_message is not None and "mutation_timeout" in outcome.error_message
    assert (await run_query(runner, "notes:texts")).value == []
    outcome, commit = await runner.run_mutation("notes:add", {"text": "next"}, None)
    assert outcome.ok and commit is not None


async def test_a_query_holding_the_loop_is_stopped_at_the_blocking_limit(
    runner: FunctionRunner,
) -> None:
    runner.timeouts = TimeLimits(query=BOUND, blocking=0.3)
    outcome = await run_query(runner, "slow:spin")
    assert outcome.error_message is not None
    assert outcome.error_message.startswith(
        "Function slow:spin held the event loop for more than 0.3 s without awaiting "
        "(limit: [functions] blocking_timeout)"
    )


def test_cpython_async_exception_stops_a_spinning_thread() -> None:
    started = threading.Event()
    outcome: list[str] = []

    def spin() -> None:
        started.set()
        try:
            while True:
                pass
        except Interrupted:
            outcome.append("interrupted")

    thread = threading.Thread(target=spin, daemon=True)
    thread.start()
    assert started.wait(BOUND) and thread.ident is not None
    assert interrupt_thread(thread.ident)
    thread.join(BOUND)
    assert not thread.is_alive() and outcome == ["interrupted"]
