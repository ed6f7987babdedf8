"""`ctx.scheduler`: scheduling functions to run later, from mutations and actions.

    job_id = await ctx.scheduler.run_after(30, internal.messages.expire, {"id": id})
    job_id = await ctx.scheduler.run_at(datetime(2027, 1, 1, tzinfo=UTC), api.x.y)
    await ctx.scheduler.cancel(job_id)

`fn` is any function name (`server.functions.references`) of a mutation
or an action, public or internal. From a mutation the job is written in the
mutation's own transaction, so it exists only if the mutation commits; from
an action it is committed at once, on its own. Scheduled functions run
without the caller's identity, as Convex's do.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from server.errors import FunctionError
from server.functions.references import FunctionLike, function_path
from server.functions.registry import FunctionRegistry
from server.scheduler.jobs import ScheduleBudget, cancel_job, insert_job
from server.store.base import Transaction

__all__ = ["Clock", "MutationScheduler", "Planner", "TransactionRunner"]

Clock = Callable[[], float]
"""Wall-clock time in seconds since the epoch (`time.time`)."""

TransactionRunner = Callable[[Callable[[Transaction], Awaitable[Any]]], Awaitable[Any]]
"""How an action's scheduler commits: one transaction of its own, through
the committer; returns what the body returned."""


class Planner:
    """What both schedulers check before a job is written: the function (a
    mutation or an action of this app), the due time, the limits."""

    __slots__ = ("_budget", "_clock", "_registry")

    def __init__(self, registry: FunctionRegistry, clock: Clock = time.time) -> None:
        self._registry = registry
        self._clock = clock
        self._budget = ScheduleBudget()

    def now_ms(self) -> float:
        return self._clock() * 1000

    def target(self, fn: FunctionLike) -> str:
        path = function_path(fn, self._registry)
        function = self._registry.lookup(path, internal_ok=True)
        if function.kind == "query":
            raise FunctionError(f"{path} is a query: only mutations and actions can be scheduled")
        return function.path

    def due_ms(self, when: datetime | float | int) -> float:
        if isinstance(when, datetime):
            if when.tzinfo is None:
                raise FunctionError(
                    "run_at needs an aware datetime (with tzinfo), or epoch seconds"
                )
            return when.timestamp() * 1000
        if isinstance(when, bool) or not isinstance(when, (int, float)):
            raise FunctionError(f"run_at takes a datetime or epoch seconds, got {when!r}")
        return float(when) * 1000

    def delay_ms(self, seconds: float | int) -> float:
        if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or seconds != seconds:
            raise FunctionError(f"run_after takes a number of seconds, got {seconds!r}")
        return self.now_ms() + max(float(seconds), 0.0) * 1000

    async def insert(
        self, tx: Transaction, fn: FunctionLike, args: dict[str, Any] | None, when_ms: float
    ) -> str:
        return await insert_job(tx, self.target(fn), args or {}, when_ms, self._budget)


class MutationScheduler:
    """`ctx.scheduler` in a mutation: jobs join the mutation's transaction."""

    __slots__ = ("_planner", "_tx")

    def __init__(self, tx: Transaction, planner: Planner) -> None:
        self._tx = tx
        self._planner = planner

    async def run_after(
        self, seconds: float, fn: FunctionLike, args: dict[str, Any] | None = None
    ) -> str:
        """Run `fn(args)` `seconds` from now (0: as soon as this commits)."""
        return await self._planner.insert(self._tx, fn, args, self._planner.delay_ms(seconds))

    async def run_at(
        self, when: datetime | float, fn: FunctionLike, args: dict[str, Any] | None = None
    ) -> str:
        """Run `fn(args)` at `when` (an aware datetime or epoch seconds; a
        time past runs it at once)."""
        return await self._planner.insert(self._tx, fn, args, self._planner.due_ms(when))

    async def cancel(self, job_id: str) -> None:
        """Cancel a job that has not finished (a running action runs on)."""
        await cancel_job(self._tx, job_id, self._planner.now_ms())


class ActionScheduler:
    """`ctx.scheduler` in an action: each call commits on its own."""

    __slots__ = ("_planner", "_transact")

    def __init__(self, transact: TransactionRunner, planner: Planner) -> None:
        self._transact = transact
        self._planner = planner

    async def run_after(
        self, seconds: float, fn: FunctionLike, args: dict[str, Any] | None = None
    ) -> str:
        when = self._planner.delay_ms(seconds)
        job_id: str = await self._transact(lambda tx: self._planner.insert(tx, fn, args, when))
        return job_id

    async def run_at(
        self, when: datetime | float, fn: FunctionLike, args: dict[str, Any] | None = None
    ) -> str:
        due = self._planner.due_ms(when)
        job_id: str = await self._transact(lambda tx: self._planner.insert(tx, fn, args, due))
        return job_id

    async def cancel(self, job_id: str) -> None:
        now = self._planner.now_ms()
        await self._transact(lambda tx: cancel_job(tx, job_id, now))
