"""Actions run on threads of their own, off the event loop that serves every socket.

Actions are where app code reaches the outside world, often through blocking
libraries (`requests`, a synchronous SDK, `time.sleep` between retries), and
their limit is ten minutes, far too long to hold the loop. So each action
runs on a fresh thread with its own event loop; `ctx.run_query`,
`ctx.run_mutation` and `ctx.run_action` hop back to the serving loop
(`run_coroutine_threadsafe`), so the store and the committer stay
single-threaded. An action is rare next to the queries a commit re-runs, so
the hop (~0.15-0.2 ms, `python -m bench isolation`) is cheap where it is paid.

The action's own loop enforces `action_timeout` on awaits (the trampoline of
`server.functions.limits`). A thread stuck past it in a blocking call, or
spinning, is given a short grace; then its caller gets the timeout, the
thread is asked to stop (`server.interrupt.interrupt_thread`, which ends a
pure-Python loop but not a C call such as `time.sleep`) and is abandoned:
its result is dropped, its further `ctx.run_*` calls are refused, and
`livesync_abandoned_threads_total` counts it.

A CPU-bound action still takes turns with the loop for CPython's GIL, which
changes hands every `sys.getswitchinterval()` (5 ms): the server slows while
it runs, but does not stop. Move heavy computation out of the server process.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, TypeVar

from server.errors import FunctionError

__all__ = ["GRACE", "Bridge", "ThreadAbandoned", "run_on_thread"]

T = TypeVar("T")

GRACE = 1.0
"""Seconds past its limit an action's thread has to finish before it is abandoned."""


class ThreadAbandoned(Exception):
    """The action's thread did not finish within its limit and grace."""


class Bridge:
    """Runs coroutine functions on the serving loop for an action's thread."""

    def __init__(self, loop: asyncio.AbstractEventLoop, path: str) -> None:
        self._loop = loop
        self._path = path
        self.revoked = False

    async def call(self, fn: Callable[..., Awaitable[T]], *args: Any) -> T:
        if self.revoked:
            raise FunctionError(
                f"Function {self._path} was abandoned at its time limit; its calls are refused"
            )
        future = asyncio.run_coroutine_threadsafe(_awaited(fn, *args), self._loop)
        return await asyncio.wrap_future(future)


async def _awaited(fn: Callable[..., Awaitable[T]], *args: Any) -> T:
    return await fn(*args)


async def run_on_thread(
    path: str,
    body: Callable[[Bridge], Coroutine[Any, Any, T]],
    wait: float,
    interrupt: Callable[[int], object],
) -> T:
    """Run `body(bridge)` on a new thread's own event loop and await its
    result here; after `wait` seconds, revoke the bridge, `interrupt` the
    thread by ident, and raise `ThreadAbandoned`."""
    bridge = Bridge(asyncio.get_running_loop(), path)
    result: concurrent.futures.Future[T] = concurrent.futures.Future()

    def main() -> None:
        try:
            value = asyncio.run(body(bridge))
        except BaseException as exc:  # handed to the waiting caller
            _settle(result.set_exception, exc)
        else:
            _settle(result.set_result, value)

    thread = threading.Thread(target=main, name=f"livesync action {path}", daemon=True)
    thread.start()
    try:
        return await asyncio.wait_for(asyncio.wrap_future(result), wait)
    except TimeoutError:
        bridge.revoked = True
        if thread.ident is not None and thread.is_alive():
            interrupt(thread.ident)
        raise ThreadAbandoned(path) from None
    except asyncio.CancelledError:
        bridge.revoked = True
        raise


def _settle(settle: Callable[[Any], None], outcome: Any) -> None:
    try:
        settle(outcome)
    except concurrent.futures.InvalidStateError:
        pass  # the caller stopped waiting (timed out or cancelled)
