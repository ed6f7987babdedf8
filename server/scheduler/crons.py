"""Running the app's cron jobs: one `CronRunner` per node, over the shared store.

The `_cron_jobs` system table holds one document per job of crons.py:

    name      the job's name
    cronSpec  {"udfPath", "udfArgs": [args], "cronSchedule": {...}}, Convex's shape
              (`server.scheduler.schedules` describes the schedules)
    nextRun   when it is due next, ms since the epoch (absent: never again)
    lastRun   when it last ran, ms (absent until its first run)
    lastJob   the `_scheduled_functions` job of its last run

On start a runner brings the table in line with its crons.py in one
transaction (`reconcile`): new jobs are added (an interval job due at once,
as Convex runs one when it is deployed; the others at their next time), a
job whose schedule changed is due afresh, one whose function or arguments
changed keeps its time, and jobs gone from crons.py are deleted. A job left
unchanged keeps its time, so a restart neither runs an interval job again
nor loses a run: one missed while no node was up runs once on start.

When a job falls due, the runner runs one transaction that reads the job
again and, only if it is still due, schedules its function now (a job the
`JobExecutor` runs: a mutation exactly once, an action at most once) and
moves `nextRun` past now, skipping the times already gone by. Every node's
runner wakes at that moment; the store's write lock orders their
transactions, and the first to commit moved `nextRun`, so each due time
runs on exactly one node. A node runs a job from what the table says (not
from its own crons.py), so nodes of two deploys never disagree on a run.

As in Convex, a job whose previous run is still pending or running skips a
due time instead of running twice at once. So a run stays its job's
`lastJob` until it has finished, which is how the `JobExecutor` tells cron
runs from other scheduled functions (`cron_runs`) and counts them apart.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any

from server.errors import FunctionError
from server.functions.crons import CronJob
from server.scheduler.context import Clock
from server.scheduler.jobs import (
    IN_PROGRESS,
    PENDING,
    SKIPPED,
    ScheduleBudget,
    insert_job,
    state_of,
)
from server.scheduler.schedules import ScheduleError, from_description
from server.scheduler.wakeups import DueLoop
from server.store.base import Document, Snapshot, Transaction
from server.store.catalog import CRON_JOBS

if TYPE_CHECKING:  # no import cycle through the sync layer at run time
    from server.sync.engine import Engine

__all__ = ["BY_NAME", "CronRunner", "cron_runs"]

log = logging.getLogger("livesync.crons")

BY_NAME = f"{CRON_JOBS}.by_name"
# The longest the runner sleeps without looking (see `DueLoop`).
MAX_SLEEP_S = 60.0
_SYSTEM_FIELDS = ("_id", "_creationTime")


class CronRunner:
    """Keeps `_cron_jobs` in line with crons.py and runs due jobs until `close`."""

    def __init__(self, engine: Engine, *, clock: Clock = time.time) -> None:
        self._engine = engine
        self._clock = clock
        # Another node's reconcile may add a job due before the one waited for.
        self._loop = DueLoop(
            engine,
            BY_NAME,
            self.run_due,
            what="crons: running due jobs",
            clock=clock,
            longest=MAX_SLEEP_S,
        )

    @property
    def task(self) -> asyncio.Task[None] | None:
        return self._loop.task

    def start(self) -> None:
        """Reconcile (retrying while the database is out of reach), then run
        due jobs, in a task of its own."""
        self._loop.start(self.reconcile)

    async def close(self) -> None:
        await self._loop.close()

    def wake(self) -> None:
        """Look for due jobs now (the clock moved, crons.py was reconciled)."""
        self._loop.wake()

    def _now_ms(self) -> float:
        return float(math.floor(self._clock() * 1000))  # whole ms read better in the table

    async def reconcile(self) -> None:
        """Make `_cron_jobs` say what this node's crons.py says."""
        wanted = {job.name: job for job in self._engine.runner.registry.crons}
        now = self._now_ms()
        # Usually nothing changed since the last start: no transaction then.
        if not _changes(await _cron_docs(self._engine.store.snapshot()), wanted, now):
            return

        async def apply(tx: Transaction) -> None:
            for change in _changes(await _cron_docs(tx), wanted, now):
                kind, target, doc = change
                if kind == "delete":
                    await tx.delete(target, system=True)
                    log.info("cron job %r removed", doc["name"])
                elif kind == "insert":
                    await tx.insert(CRON_JOBS, doc, system=True)
                    log.info("cron job %r added", doc["name"])
                else:
                    await tx.replace(target, doc, system=True)
                    log.info("cron job %r updated", doc["name"])

        await self._engine.transact(apply)

    async def run_due(self) -> float | None:
        """Run the jobs due by now; when the next one is due (ms), or None."""
        now = self._now_ms()
        upcoming: float | None = None
        for doc in await _cron_docs(self._engine.store.snapshot()):
            due = _next_run(doc)
            if due is not None and due <= now:
                due, skipped = await self._engine.transact(_firing(doc["_id"], now))
                if skipped:
                    self._engine.metrics.cron_runs.inc(SKIPPED)
            if due is not None:
                upcoming = due if upcoming is None else min(upcoming, due)
        return upcoming


Change = tuple[str, str, dict[str, Any]]
"""("insert" | "replace" | "delete", the document's id ("" to insert), the new document)."""


def _changes(docs: list[Document], wanted: Mapping[str, CronJob], now_ms: float) -> list[Change]:
    """What turns the table's `docs` into `wanted`."""
    changes: list[Change] = []
    seen: set[str] = set()
    for doc in docs:
        name = doc.get("name")
        job = wanted.get(name) if isinstance(name, str) else None
        if job is None or name in seen:
            changes.append(("delete", doc["_id"], doc))
            continue
        seen.add(job.name)
        spec = job.spec()
        old = doc.get("cronSpec")
        if old == spec:
            continue
        new = {key: value for key, value in doc.items() if key not in _SYSTEM_FIELDS}
        new["cronSpec"] = spec
        if not isinstance(old, dict) or old.get("cronSchedule") != spec["cronSchedule"]:
            _set_next_run(new, job.schedule.first_run(now_ms))
        changes.append(("replace", doc["_id"], new))
    for name, job in wanted.items():
        if name not in seen:
            new = {"name": name, "cronSpec": job.spec()}
            _set_next_run(new, job.schedule.first_run(now_ms))
            changes.append(("insert", "", new))
    return changes


def _firing(
    cron_id: str, now_ms: float
) -> Callable[[Transaction], Awaitable[tuple[float | None, bool]]]:
    """The transaction running the job `cron_id` if it is still due at
    `now_ms`; it returns the job's next due time, and whether this due time
    was skipped (its previous run has not finished)."""

    async def fire(tx: Transaction) -> tuple[float | None, bool]:
        doc = await tx.get(cron_id)
        due = None if doc is None else _next_run(doc)
        if doc is None or due is None or due > now_ms:
            return due, False  # deleted, or run by another node meanwhile
        new = {key: value for key, value in doc.items() if key not in _SYSTEM_FIELDS}
        name = doc.get("name")
        spec = doc.get("cronSpec")
        try:
            schedule = from_description(
                spec.get("cronSchedule") if isinstance(spec, dict) else None
            )
        except ScheduleError as exc:
            log.error("cron job %r has a schedule this server cannot read: %s", name, exc)
            new.pop("nextRun", None)
            await tx.replace(cron_id, new, system=True)
            return None, False
        previous = doc.get("lastJob")
        skipped = isinstance(previous, str) and state_of(await tx.get(previous)) in (
            PENDING,
            IN_PROGRESS,
        )
        if skipped:
            log.warning("cron job %r skipped a run: its previous run has not finished", name)
        else:
            assert isinstance(spec, dict)
            path = str(spec.get("udfPath"))
            udf_args = spec.get("udfArgs")
            args = udf_args[0] if isinstance(udf_args, list) and udf_args else {}
            try:
                new["lastJob"] = await insert_job(tx, path, args, now_ms, ScheduleBudget())
                new["lastRun"] = now_ms
                log.info("cron job %r runs %s", name, path)
            except FunctionError as exc:
                log.error("cron job %r could not run %s: %s", name, path, exc)
        next_run = schedule.next_run(due, now_ms)
        _set_next_run(new, next_run)
        await tx.replace(cron_id, new, system=True)
        return next_run, skipped

    return fire


async def cron_runs(snapshot: Snapshot) -> set[str]:
    """The ids of the cron jobs' last runs: of the jobs pending or in
    progress at `snapshot`, those a cron job started."""
    return {
        doc["lastJob"] for doc in await _cron_docs(snapshot) if isinstance(doc.get("lastJob"), str)
    }


async def _cron_docs(snapshot: Snapshot) -> list[Document]:
    return [doc async for _, doc in snapshot.scan(BY_NAME, b"", None)]


def _next_run(doc: Document) -> float | None:
    due = doc.get("nextRun")
    return float(due) if isinstance(due, (int, float)) and not isinstance(due, bool) else None


def _set_next_run(doc: dict[str, Any], next_run: float | None) -> None:
    if next_run is None:
        doc.pop("nextRun", None)  # a cron expression that matches no more
    else:
        doc["nextRun"] = float(next_run)
