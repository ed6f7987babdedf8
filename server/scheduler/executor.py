"""Running due jobs: one `JobExecutor` per node, over the shared store.

Every node looks for due jobs (pending, `scheduledTime` passed) and starts
them; the store's write lock decides which node's attempt counts:

- A mutation job runs in one committer transaction that first checks the
  job is still pending, then runs the mutation and marks the job
  `success`: its writes and its completion commit together, or not at all,
  so it takes effect exactly once however many nodes try. A mutation that
  fails leaves its writes undone, and the job is then marked `failed`
  (unless it was canceled or run meanwhile).
- An action job is claimed first (pending -> inProgress, one transaction),
  and only the node whose claim committed runs it, at most once; its end is
  recorded afterwards. A node that dies mid-action leaves the job
  inProgress: any node marks it failed once it is older than the longest an
  action may run (at once, on a store only this process opens).

A job a cron job started (its `lastJob`, read at the snapshot the job was
found in) is counted in `livesync_cron_runs_total`, any other in
`livesync_scheduled_jobs_total`.

The executor wakes when a commit touches the jobs (this node's or another
node's: every commit is published on every node) and when the next pending
job falls due. A database out of reach is waited out; nothing is lost, since
a job leaves `pending` only in a committed transaction.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from server.errors import LivesyncError, StoreUnavailable
from server.functions.action_threads import GRACE
from server.functions.outcome import SERVER_ERROR, Outcome, failure
from server.functions.readset import ReadSet
from server.metrics import Counter, Metrics
from server.scheduler.context import Clock
from server.scheduler.crons import cron_runs
from server.scheduler.jobs import (
    BY_STATE,
    CANCELED,
    FAILED,
    IN_PROGRESS,
    PENDING,
    SUCCESS,
    finish_job,
    jobs_in_state,
    start_job,
    state_of,
)
from server.scheduler.wakeups import RETRY_S, DueLoop
from server.store.base import Document, Transaction

if TYPE_CHECKING:  # no import cycle through the sync layer at run time
    from server.sync.engine import Engine

__all__ = ["JobExecutor"]

log = logging.getLogger("livesync.scheduler")

# Jobs this node has started and not finished, at most: the rest wait their turn.
MAX_IN_FLIGHT = 256
# Due jobs are looked for again only once this many have finished (or none
# is in flight). Jobs in flight are still pending, so every look reads past
# them first: looking after each committed group (64 jobs) read four job
# documents per job started, ~10% of the server's time with 10,000 jobs due
# (BENCHMARKS.md, "Scheduler"). Half the cap still leaves the committer
# 128 jobs queued, two full groups, while the next ones are found.
REFILL_AT = MAX_IN_FLIGHT // 2
# Actions running at once on this node (Convex's executor runs 8 of any kind).
MAX_ACTIONS = 16
# How often orphaned actions and old finished jobs are looked for.
SWEEP_INTERVAL_S = 60.0
# Finished jobs are kept this long, as Convex keeps them, then deleted.
RETENTION_S = 7 * 24 * 3600
_DELETE_BATCH = 500
_ORPHAN_ERROR = (
    "The server running this action stopped before it finished; "
    "scheduled actions run at most once, so it was not retried"
)


class JobExecutor:
    """Runs this node's share of the due jobs until `close`."""

    def __init__(
        self,
        engine: Engine,
        metrics: Metrics,
        *,
        action_timeout: float,
        clock: Clock = time.time,
    ) -> None:
        self._engine = engine
        self._metrics = metrics
        self._clock = clock
        self._orphan_age_ms = (action_timeout + GRACE + 30.0) * 1000
        self._started_ms = clock() * 1000
        self._exclusive = engine.store.exclusive
        self._in_flight: dict[str, asyncio.Task[None]] = {}
        self._rng = random.Random()
        self._actions = asyncio.Semaphore(MAX_ACTIONS)
        self._next_sweep = 0.0  # time.monotonic() of the next sweep
        self._loop = DueLoop(
            engine,
            BY_STATE,
            self._step,
            what="scheduler: looking for due jobs",
            clock=clock,
            longest=SWEEP_INTERVAL_S,
        )

    @property
    def task(self) -> asyncio.Task[None] | None:
        return self._loop.task

    def start(self) -> None:
        self._loop.start()

    async def close(self) -> None:
        await self._loop.close()
        tasks = list(self._in_flight.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def _now_ms(self) -> float:
        return self._clock() * 1000

    async def _step(self) -> float | None:
        if time.monotonic() >= self._next_sweep:
            await self._sweep()
            self._next_sweep = time.monotonic() + SWEEP_INTERVAL_S
        return await self._start_due()

    async def _start_due(self) -> float | None:
        """Start the due jobs this node has room for; the `scheduledTime` of
        the next job not due yet, or None."""
        now = self._now_ms()
        room = MAX_IN_FLIGHT - len(self._in_flight)
        if room < REFILL_AT:
            # A finishing job wakes the loop; nothing is due sooner than that
            # could start anyway.
            return None
        due: list[Document] = []
        upcoming = None
        snapshot = self._engine.store.snapshot()
        async for job in jobs_in_state(snapshot, PENDING):
            at = float(job.get("scheduledTime", 0.0))
            if at > now:
                upcoming = at
                break
            if len(due) >= room:
                break  # a finishing job wakes the loop
            if job["_id"] not in self._in_flight:
                due.append(job)
        if not self._exclusive:
            # Every node sees the same due jobs; each takes them in an order
            # of its own, so their attempts mostly meet different jobs
            # instead of queueing for the lock to find the job done.
            self._rng.shuffle(due)
        crons = await cron_runs(snapshot) if due else set()
        for job in due:
            self._start(job, self._tally(job["_id"] in crons))
        return upcoming

    def _tally(self, cron: bool) -> Counter:
        """Where a job's end is counted: cron runs apart from the others."""
        return self._metrics.cron_runs if cron else self._metrics.scheduled_jobs

    def _start(self, job: Document, tally: Counter) -> None:
        job_id: str = job["_id"]
        path = str(job.get("name"))
        args = job.get("args")
        args = args[0] if isinstance(args, list) and args and isinstance(args[0], dict) else {}
        try:
            kind = self._engine.runner.registry.lookup(path, internal_ok=True).kind
        except LivesyncError as exc:
            # Scheduled, then removed from the app before it ran.
            work = self._record(job_id, PENDING, str(exc), tally)
        else:
            if kind == "mutation":
                work = self._run_mutation(job_id, path, args, tally)
            elif kind == "action":
                work = self._run_action(job_id, path, args, tally)
            else:
                work = self._record(
                    job_id, PENDING, f"{path} is a query, which cannot be scheduled", tally
                )
        task = asyncio.get_running_loop().create_task(work)
        self._in_flight[job_id] = task
        task.add_done_callback(lambda done: self._finished(job_id, done))

    def _finished(self, job_id: str, task: asyncio.Task[None]) -> None:
        self._in_flight.pop(job_id, None)
        self._loop.wake()
        if not task.cancelled() and task.exception() is not None:
            # The job stays where it was (pending runs again; inProgress is
            # failed by the sweep): logged here, or no one would see it.
            log.error("scheduler: job %s failed unexpectedly", job_id, exc_info=task.exception())

    async def _run_mutation(
        self, job_id: str, path: str, args: dict[str, Any], tally: Counter
    ) -> None:
        runner = self._engine.runner
        ran = False

        async def body(tx: Transaction) -> Outcome:
            nonlocal ran
            if state_of(await tx.get(job_id)) != PENDING:
                return _SKIPPED  # run by another node, or canceled
            outcome = await runner.mutation_body(tx, path, args, None, internal_ok=True)
            await finish_job(tx, job_id, self._now_ms(), None, from_state=PENDING)
            ran = True
            return outcome

        try:
            committed = await self._engine.committer.submit_body(f"scheduled {path}", body)
        except StoreUnavailable as exc:
            log.warning("scheduled %s waits for the database: %s", path, exc)
            await asyncio.sleep(RETRY_S)  # then the loop finds it pending again
            return
        if committed.ts is not None:
            if ran:
                tally.inc(SUCCESS)
            return
        error = committed.outcome.error_message or SERVER_ERROR
        log.info("scheduled mutation %s failed: %s", path, error)
        await self._record(job_id, PENDING, error, tally)

    async def _run_action(
        self, job_id: str, path: str, args: dict[str, Any], tally: Counter
    ) -> None:
        async with self._actions:
            now = self._now_ms()
            try:
                claimed = await self._engine.transact(lambda tx: start_job(tx, job_id, now))
            except StoreUnavailable as exc:
                log.warning("scheduled %s waits for the database: %s", path, exc)
                await asyncio.sleep(RETRY_S)
                return
            if claimed is None:
                return  # another node claimed it, or it was canceled
            try:
                outcome = await self._engine.run_action(path, args, None, internal_ok=True)
            except StoreUnavailable as exc:
                outcome = failure(f"The database was out of reach while the action ran: {exc}")
        error = None if outcome.ok else outcome.error_message or SERVER_ERROR
        if error is not None:
            log.info("scheduled action %s failed: %s", path, error)
        await self._record(job_id, IN_PROGRESS, error, tally)

    async def _record(
        self, job_id: str, from_state: str, error: str | None, tally: Counter
    ) -> None:
        """Mark the job finished (success, or failed with `error`) if it is
        still in `from_state`, counted in `tally`; waits out a database out
        of reach, since the run it records cannot be taken back."""

        async def finish(tx: Transaction) -> bool:
            return await finish_job(tx, job_id, self._now_ms(), error, from_state=from_state)

        while True:
            try:
                done = await self._engine.transact(finish)
            except StoreUnavailable as exc:
                log.warning("recording the end of job %s waits for the database: %s", job_id, exc)
                await asyncio.sleep(RETRY_S)
                continue
            if done:
                tally.inc(SUCCESS if error is None else FAILED)
            return

    async def _sweep(self) -> None:
        """Fail the actions whose node died mid-run, and delete jobs that
        finished more than `RETENTION_S` ago."""
        snapshot = self._engine.store.snapshot()
        now = self._now_ms()
        orphans = []
        async for job in jobs_in_state(snapshot, IN_PROGRESS):
            if job["_id"] in self._in_flight:
                continue
            started = job["state"].get("startedTime", 0.0)
            # On a store only this process opens, a job it did not start
            # belongs to a process that is gone.
            if (self._exclusive and started < self._started_ms) or (
                started < now - self._orphan_age_ms
            ):
                orphans.append(job["_id"])
        crons = await cron_runs(snapshot) if orphans else set()
        for job_id in orphans:
            log.warning("scheduled action %s was orphaned; marking it failed", job_id)
            await self._record(job_id, IN_PROGRESS, _ORPHAN_ERROR, self._tally(job_id in crons))
        horizon = now - RETENTION_S * 1000
        for kind in (SUCCESS, FAILED, CANCELED):
            old = []
            async for job in jobs_in_state(snapshot, kind):
                if float(job.get("scheduledTime", 0.0)) > horizon:
                    break  # scheduled after the horizon: finished after it too
                if float(job.get("completedTime", now)) < horizon:
                    old.append(job["_id"])
            for start in range(0, len(old), _DELETE_BATCH):
                batch = old[start : start + _DELETE_BATCH]
                await self._engine.transact(_deleter(batch))


_SKIPPED = Outcome(None, None, None, None, (), ReadSet(), False)


def _deleter(ids: list[str]) -> Callable[[Transaction], Awaitable[None]]:
    async def delete(tx: Transaction) -> None:
        for job_id in ids:
            if await tx.get(job_id) is not None:
                await tx.delete(job_id, system=True)

    return delete
