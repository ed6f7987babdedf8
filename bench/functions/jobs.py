"""Scheduled jobs for the scheduler benchmark (issue 16).

`jobs:schedule` schedules a batch of `jobs:run` all due at one time; a
client runs the same work directly with `jobs:run_direct`, the baseline.
Each run records when its handler started (server wall clock, ms) next to
the time it was due, so the bench computes the delay from the documents,
and counts itself in one shared document a subscriber waits on.
"""

from __future__ import annotations

import time
from typing import Any

from server import internal_mutation, mutation, pagination_opts_validator, query, v

__all__ = ["done", "run", "run_direct", "runs_page", "schedule", "states_page"]


async def _run(ctx: Any, n: float, due: float) -> None:
    # Stamped first, before any read: the delay is to the start of the work.
    started = time.time() * 1000
    await ctx.db.insert("job_runs", {"n": n, "due": due, "started": started})
    progress = await ctx.db.query("job_progress").first()
    if progress is None:
        await ctx.db.insert("job_progress", {"n": 1.0})
    else:
        await ctx.db.patch(progress["_id"], {"n": progress["n"] + 1})


@internal_mutation(args={"n": v.float64(), "due": v.float64()})
async def run(ctx: Any, n: float, due: float) -> None:
    """The scheduled job: what the executor runs."""
    await _run(ctx, n, due)


@mutation(args={"n": v.float64(), "due": v.float64()})
async def run_direct(ctx: Any, n: float, due: float) -> None:
    """The same work, called by a client (the baseline)."""
    await _run(ctx, n, due)


@mutation(args={"first": v.float64(), "count": v.float64(), "at": v.float64()})
async def schedule(ctx: Any, first: float, count: float, at: float) -> None:
    """`count` jobs numbered from `first`, all due at `at` (epoch ms); Convex
    allows 1,000 per function execution, so the bench calls this in batches."""
    for i in range(int(count)):
        await ctx.scheduler.run_at(at / 1000, run, {"n": first + i, "due": at})


@query()
async def done(ctx: Any) -> float:
    progress = await ctx.db.query("job_progress").first()
    return progress["n"] if progress is not None else 0.0


@query(args={"paginationOpts": pagination_opts_validator})
async def runs_page(ctx: Any, paginationOpts: dict[str, Any]) -> dict[str, Any]:  # noqa: N803
    page: dict[str, Any] = await ctx.db.query("job_runs").paginate(paginationOpts)
    return page


@query(args={"paginationOpts": pagination_opts_validator})
async def states_page(ctx: Any, paginationOpts: dict[str, Any]) -> dict[str, Any]:  # noqa: N803
    """The scheduler's own record of each job, trimmed to what the bench checks."""
    page: dict[str, Any] = await ctx.db.system.query("_scheduled_functions").paginate(
        paginationOpts
    )
    page["page"] = [
        {
            "n": job["args"][0]["n"],
            "kind": job["state"]["kind"],
            "scheduledTime": job["scheduledTime"],
            "completedTime": job.get("completedTime"),
        }
        for job in page["page"]
    ]
    return page
