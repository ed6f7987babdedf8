"""Time limits on app functions: a deadline per execution, a bound per step.

Theory of operation. `limited()` wraps a handler's coroutine in a trampoline
that drives it one step at a time (a step is the code between two awaits
that suspend). Each execution gets a deadline, `[functions] <kind>_timeout`
after it starts, and each step a step deadline, at most `blocking_timeout`
after the step began (and never past the execution's deadline).

* Awaiting past the deadline: a loop timer cancels the task, the
  CancelledError is thrown into the handler so its `async with` and `finally`
  blocks unwind, and the execution fails with `FunctionTimeout`. A handler
  that swallows the cancellation and awaits again is closed instead: it is
  never resumed after its deadline.
* Running past a step deadline without awaiting (`while True: pass`,
  `time.sleep(5)`): no timer can fire while the loop is held, so
  `server.interrupt` watches the step from another thread and raises
  `Interrupted` inside the handler. A step on the main thread publishes itself
  in `MAIN_STEP` for that.

Either way the caller gets a message naming the function and the limit, and
a mutation's writes are rolled back by its caller (`Store.write`).
Anything that reaches `FunctionRunner` after the deadline is a timeout, even
a value the handler returned while being cancelled: it came too late.
Actions run on threads of their own (`server.functions.action_threads`),
where only the deadline applies: they hold no loop but their own.

The clock stops while the handler awaits the store (`pause`/`resume`, called
by the store around each trip to its threads): as Convex pauses its user
timeout during database syscalls, a query that waits behind thousands of
others in a burst is not the one at fault. Time awaiting anything else
(`asyncio.sleep`, an HTTP call) counts.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Coroutine, Generator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from server.config import FunctionsConfig
from server.errors import FunctionError

__all__ = [
    "MAIN_STEP",
    "FunctionTimeout",
    "Interrupted",
    "TimeLimits",
    "StepState",
    "time_limits",
    "limited",
    "store_time",
]

_MAIN_THREAD = threading.main_thread().ident


class FunctionTimeout(FunctionError):
    """An execution overran one of its limits; the message says which."""


class Interrupted(BaseException):
    """Raised inside a handler that held the event loop past its step
    deadline. A BaseException, like CancelledError, so that the handler's
    `except Exception:` does not swallow it."""


@dataclass(frozen=True, slots=True)
class TimeLimits:
    """Seconds per execution by kind, and per synchronous step."""

    query: float = 1.0
    mutation: float = 1.0
    action: float = 600.0
    blocking: float = 1.0

    def timeout(self, kind: str) -> float:
        limit: float = getattr(self, kind)
        return limit


def time_limits(config: FunctionsConfig) -> TimeLimits:
    """The `[functions]` timeouts as `TimeLimits`."""
    return TimeLimits(
        config.query_timeout,
        config.mutation_timeout,
        config.action_timeout,
        config.blocking_timeout,
    )


class StepState:
    """Which limited execution the main thread is running a step of now."""

    __slots__ = ("guard",)

    def __init__(self) -> None:
        self.guard: _Limited | None = None


MAIN_STEP = StepState()


@contextmanager
def store_time() -> Iterator[None]:
    """Around app code's await on the store (`ctx.db`): that time is the
    server's, queueing behind other readers included, so the clock of the
    execution running now stops, as Convex's does during database calls."""
    guard = MAIN_STEP.guard
    if guard is None:
        yield
        return
    guard.pause()
    try:
        yield
    finally:
        guard.resume()


def limited(coro: Coroutine[Any, Any, Any], path: str, kind: str, limits: TimeLimits) -> _Limited:
    """`await limited(handler(...), ...)` runs the handler under `limits`,
    raising `FunctionTimeout` if it overruns."""
    return _Limited(coro, path, kind, limits.timeout(kind), limits.blocking)


class _Limited:
    __slots__ = (
        "_coro",
        "path",
        "kind",
        "limit",
        "blocking",
        "deadline",
        "step_deadline",
        "expired",
        "held_loop",
        "_cancelled",
        "_paused",
        "_paused_since",
        "_timer",
    )

    def __init__(
        self,
        coro: Coroutine[Any, Any, Any],
        path: str,
        kind: str,
        limit: float,
        blocking: float,
    ) -> None:
        self._coro = coro
        self.path = path
        self.kind = kind
        self.limit = limit
        self.blocking = blocking
        self.deadline = 0.0  # time.monotonic() seconds, set when awaited
        self.step_deadline = 0.0
        self.expired = False  # the deadline passed: it must never go on
        self.held_loop = False  # it was interrupted in a step, not while awaiting
        self._cancelled = False  # our timer cancelled the task
        self._paused = 0  # store calls under way (they nest)
        self._paused_since = 0.0
        self._timer: asyncio.TimerHandle | None = None

    def pause(self) -> None:
        """The handler awaits the store: that time is the server's (queueing
        behind other readers included), so the clock stops."""
        if self._paused == 0:
            self._paused_since = time.monotonic()
        self._paused += 1

    def resume(self) -> None:
        self._paused -= 1
        if self._paused == 0:
            self.deadline += time.monotonic() - self._paused_since

    def interrupt(self) -> None:
        """Called by `server.interrupt` on the loop's thread, inside a step
        past its step deadline: mark the execution over and stop the step."""
        self.expired = True
        self.held_loop = True
        raise Interrupted(self.path)

    def __await__(self) -> Generator[Any, Any, Any]:
        loop = asyncio.get_running_loop()
        task = asyncio.current_task(loop)
        cancelling = task.cancelling() if task is not None else 0
        self.deadline = time.monotonic() + self.limit
        self._timer = loop.call_later(self.limit, self._expire, loop, task)
        step = MAIN_STEP if threading.get_ident() == _MAIN_THREAD else StepState()
        coro = self._coro
        value: Any = None
        error: BaseException | None = None
        try:
            while True:
                outer = step.guard
                self.step_deadline = min(self.deadline, time.monotonic() + self.blocking)
                step.guard = self
                try:
                    if error is None:
                        yielded = coro.send(value)
                    else:
                        yielded = coro.throw(error)
                except StopIteration as stop:
                    if self.expired:
                        raise self._timeout(task, cancelling) from None
                    return stop.value
                except BaseException:
                    if self.expired:
                        raise self._timeout(task, cancelling) from None
                    raise
                finally:
                    step.guard = outer
                if self.expired:
                    # It caught the cancellation and awaits something else.
                    _close(coro)
                    raise self._timeout(task, cancelling)
                try:
                    value, error = (yield yielded), None
                except BaseException as exc:
                    value, error = None, exc
        finally:
            if self._timer is not None:
                self._timer.cancel()

    def _expire(self, loop: asyncio.AbstractEventLoop, task: asyncio.Task[Any] | None) -> None:
        now = time.monotonic()
        if self._paused:
            left = self.deadline - self._paused_since
        else:
            left = self.deadline - now
        if left > 0:  # the clock stopped meanwhile: look again when it could run out
            self._timer = loop.call_later(left, self._expire, loop, task)
            return
        self.expired = True
        if task is not None:
            self._cancelled = True
            task.cancel()

    def _timeout(self, task: asyncio.Task[Any] | None, cancelling: int) -> BaseException:
        # Undo our own cancel() so the task's later awaits work normally; a
        # cancellation from elsewhere (shutdown, a closed socket) goes on.
        if task is not None and self._cancelled and task.uncancel() > cancelling:
            return asyncio.CancelledError()
        if self.held_loop and time.monotonic() < self.deadline:
            return FunctionTimeout(
                f"Function {self.path} held the event loop for more than "
                f"{self.blocking:g} s without awaiting (limit: [functions] blocking_timeout); "
                "run blocking or CPU-heavy work with `await asyncio.to_thread(...)`"
            )
        return FunctionTimeout(
            f"Function {self.path} timed out after {self.limit:g} s "
            f"(limit: [functions] {self.kind}_timeout)"
        )


def _close(coro: Coroutine[Any, Any, Any]) -> None:
    try:
        coro.close()
    except Exception:  # noqa: BLE001 - it awaited in a finally block: it is over anyway
        pass
