"""Scenario 8: what time limits cost per execution, against running bare.

In-process, no server: the cost is per call, and a socket round trip would
only add noise. Three ways to run one handler that awaits the store twice
(each await a real suspension, resolved by the loop as a store reply is):

* bare: `await handler(ctx)`, no limits at all (the raw baseline);
* limited: `server.functions.timeouts.limited()`, what the server does: a
  deadline timer and a trampoline that publishes each step for the watchdog;
* thread: the alternative design, the handler on a worker thread's own loop
  with each store call bridged back to the serving loop
  (`run_coroutine_threadsafe` both ways), using one long-lived worker, the
  cheapest form of it;
* action: `server.functions.action_threads.run_on_thread`, which is how
  actions run (a kept worker thread, and its bookkeeping).

Then the real `FunctionRunner.run_query` on an in-memory SQLite store, with
its limits and with `limited` replaced by a pass-through. Its rounds vary by
more than the limits cost, so the target is the trampoline's added time
(limited minus bare) as a share of a run_query without limits: <= 10 %.
"""

from __future__ import annotations

import asyncio
import statistics
import tempfile
import threading
import time
from collections.abc import Awaitable, Callable, Coroutine
from pathlib import Path
from typing import Any

from bench.harness import Settings
from bench.report import Figure, at_most, print_figure

__all__ = ["run_isolation"]

_ROUNDS = 9
_APP = """
from server import query

@query()
async def count(ctx):
    return len(await ctx.db.query("notes").take(10))
"""


async def _store_reply() -> int:
    # A suspension the loop resolves, as a store reply from its thread is.
    future: asyncio.Future[int] = asyncio.get_running_loop().create_future()
    asyncio.get_running_loop().call_soon(future.set_result, 1)
    return await future


async def _handler(db: Callable[[], Awaitable[int]]) -> int:
    return await db() + await db()


def _bridge(loop: asyncio.AbstractEventLoop) -> Callable[[], Awaitable[int]]:
    def db() -> Awaitable[int]:
        return asyncio.wrap_future(asyncio.run_coroutine_threadsafe(_store_reply(), loop))

    return db


async def _per_call_us(run: Callable[[], Coroutine[Any, Any, Any]], calls: int) -> float:
    for _ in range(calls // 10):
        await run()
    started = time.perf_counter()
    for _ in range(calls):
        await run()
    return (time.perf_counter() - started) / calls * 1e6


def _worker_loop() -> tuple[asyncio.AbstractEventLoop, threading.Thread]:
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="bench-worker", daemon=True)
    thread.start()
    return loop, thread


async def _designs(calls: int) -> tuple[float, float, float, float]:
    from server.functions.action_threads import Bridge, run_on_thread
    from server.functions.timeouts import TimeLimits, limited

    limits = TimeLimits()
    serving = asyncio.get_running_loop()
    worker, thread = _worker_loop()

    async def bare() -> int:
        return await _handler(_store_reply)

    async def with_limits() -> int:
        result: int = await limited(_handler(_store_reply), "bench:h", "query", limits)
        return result

    async def on_thread() -> int:
        coro = _handler(_bridge(serving))
        result: int = await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(coro, worker))
        return result

    async def as_action() -> int:
        def body(bridge: Bridge) -> Coroutine[Any, Any, int]:
            return _handler(lambda: bridge.call(_store_reply))

        return await run_on_thread("bench:h", body, 60.0, lambda ident: None)

    try:
        return (
            await _per_call_us(bare, calls),
            await _per_call_us(with_limits, calls),
            await _per_call_us(on_thread, calls),
            await _per_call_us(as_action, max(calls // 20, 100)),
        )
    finally:
        worker.call_soon_threadsafe(worker.stop)
        thread.join()
        worker.close()


async def _runner(calls: int) -> tuple[float, float, float]:
    import server.functions.runner as runner_module
    from server.functions.registry import FunctionRegistry
    from server.functions.runner import FunctionRunner
    from server.store.sqlite import SqliteStore

    with tempfile.TemporaryDirectory(prefix="livesync-isolation-") as tmp:
        (Path(tmp) / "notes.py").write_text(_APP)
        registry = FunctionRegistry.load(Path(tmp))
        store = SqliteStore(":memory:")
        await store.open(registry.index_defs())
        try:

            async def fill(tx: Any) -> None:
                for n in range(10):
                    await tx.insert("notes", {"n": n})

            await store.write(fill)
            runner = FunctionRunner(registry, store)

            async def run() -> Any:
                outcome = await runner.run_query("notes:count", {}, None, store.snapshot())
                assert outcome.ok, outcome.error_message
                return outcome

            real = runner_module.__dict__["limited"]

            def passthrough(coro: Coroutine[Any, Any, Any], *_: Any) -> Any:
                return coro

            # Paired rounds, alternating which goes first; the median of
            # the pairs' ratios: the store's thread hops are noisy on a
            # shared machine, and a noisy round spoils only its own pair.
            pairs: list[tuple[float, float]] = []
            for round_ in range(_ROUNDS):
                order = (real, passthrough) if round_ % 2 == 0 else (passthrough, real)
                timed = {}
                for variant in order:
                    setattr(runner_module, "limited", variant)  # noqa: B010
                    timed[variant] = await _per_call_us(run, calls)
                pairs.append((timed[passthrough], timed[real]))
            setattr(runner_module, "limited", real)  # noqa: B010
        finally:
            await store.close()
    return (
        statistics.median(p[0] for p in pairs),
        statistics.median(p[1] for p in pairs),
        statistics.median(p[1] / p[0] for p in pairs),
    )


async def run_isolation(settings: Settings) -> list[Figure]:
    calls = settings.size(2_000, 20_000)
    bare, limited, thread, fresh = await _designs(calls)
    print(
        f"[isolation] handler with 2 store awaits, per call: bare {bare:.1f} us, "
        f"limited {limited:.1f} us, on a worker thread {thread:.1f} us, "
        f"run_on_thread (how actions run) {fresh:.1f} us",
        flush=True,
    )
    runner_bare, runner_limited, ratio = await _runner(calls // 10)
    print(
        f"[isolation] FunctionRunner.run_query on SQLite, per call (median of {_ROUNDS} "
        "rounds): without limits "
        f"{runner_bare:.1f} us, with limits {runner_limited:.1f} us",
        flush=True,
    )
    figures = [
        Figure("isolation", "limited / bare, per call", limited / bare, "x"),
        Figure("isolation", "worker thread / bare, per call", thread / bare, "x"),
        Figure("isolation", "run_query with limits / without", ratio, "x (median of pairs)"),
        # The steady figure: the trampoline's own cost against a whole real
        # query run (the paired runner rounds vary by more than it).
        at_most(
            "isolation",
            "limits' added time / a run_query without them",
            (limited - bare) / runner_bare,
            "x",
            0.1,
        ),
    ]
    return [print_figure(f) for f in figures]
