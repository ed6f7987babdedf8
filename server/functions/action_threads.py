"""Actions run on threads of their own, off the event loop that serves every socket.

Actions are where app code reaches the outside world, often through blocking
libraries (`requests`, a synchronous SDK, `time.sleep` between retries), and
their limit is ten minutes, far too long to hold the loop. So each action
runs on a worker thread with its own event loop; `ctx.run_query`,
`ctx.run_mutation` and `ctx.run_action` hop back to the serving loop
(`run_coroutine_threadsafe`), so the store and the committer stay
single-threaded. Worker threads are kept (up to `_MAX_IDLE` idle) and reused,
as a new thread and loop per action cost ~2.5 ms; the hop to a kept one
(~0.15-0.2 ms, `python -m bench isolation`) is cheap where it is paid,
actions being rare next to the queries a commit re-runs.

The action's own loop enforces `action_timeout` on awaits (the trampoline of
`server.functions.timeouts`). A thread stuck past it in a blocking call, or
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
import threading
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, TypeVar

from server.errors import FunctionError
from server.functions.timeouts import Interrupted

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


class _Worker:
    """A thread running an event loop of its own, for one action at a time."""

    def __init__(self) -> None:
        self.retired = False  # its loop ends with the action it is running
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self._serve, name=_IDLE_NAME, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        asyncio.set_event_loop(self.loop)
        try:
            self.loop.run_forever()
        except Interrupted:
            pass  # abandoned, and stopped where it stood: the thread just ends
        finally:
            self.loop.close()

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)


_IDLE_NAME = "livesync action (idle)"
_RETIRE_CHECK = 0.1  # seconds between looks at a retired worker's loop
_MAX_IDLE = 8
_idle: list[_Worker] = []
_idle_lock = threading.Lock()  # serving loops in several threads may share it


def _take(path: str) -> _Worker:
    with _idle_lock:
        worker = _idle.pop() if _idle else None
    if worker is None:
        worker = _Worker()
    worker.thread.name = f"livesync action {path}"
    return worker


def _give_back(worker: _Worker) -> None:
    worker.thread.name = _IDLE_NAME
    with _idle_lock:
        if len(_idle) < _MAX_IDLE:
            _idle.append(worker)
            return
    worker.stop()


async def _alone(body: Coroutine[Any, Any, T], worker: _Worker) -> T:
    # On the worker's loop: what the action left running ends with it.
    try:
        return await body
    finally:
        current = asyncio.current_task()
        for task in asyncio.all_tasks():
            if task is not current:
                task.cancel()
        if worker.retired:
            asyncio.get_running_loop().call_soon(worker.loop.stop)


def _stop_if_idle(loop: asyncio.AbstractEventLoop) -> None:
    # An action cancelled before it started never reaches _alone's finally.
    if asyncio.all_tasks(loop):
        loop.call_later(_RETIRE_CHECK, _stop_if_idle, loop)
    else:
        loop.stop()


async def run_on_thread(
    path: str,
    body: Callable[[Bridge], Coroutine[Any, Any, T]],
    wait: float,
    interrupt: Callable[[int], object],
) -> T:
    """Run `body(bridge)` on a worker thread's own event loop and await its
    result here; after `wait` seconds, revoke the bridge, `interrupt` the
    thread by ident, abandon it and raise `ThreadAbandoned`."""
    bridge = Bridge(asyncio.get_running_loop(), path)
    worker = _take(path)
    future = asyncio.run_coroutine_threadsafe(_alone(body(bridge), worker), worker.loop)
    try:
        result = await asyncio.wait_for(asyncio.wrap_future(future), wait)
    except TimeoutError:
        bridge.revoked = worker.retired = True
        worker.stop()  # its loop ends once the thread comes back to it
        if worker.thread.ident is not None:
            interrupt(worker.thread.ident)
        raise ThreadAbandoned(path) from None
    except BaseException:
        # Cancelled (so is the action, on its loop) or ended by an interrupt:
        # the loop stops once the action has unwound; a fresh worker serves
        # the next one.
        bridge.revoked = worker.retired = True
        worker.loop.call_soon_threadsafe(_stop_if_idle, worker.loop)  # if it already ended
        raise
    _give_back(worker)
    return result
