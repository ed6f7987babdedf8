"""Functions that schedule others, for the scheduler's tests."""

from __future__ import annotations

import asyncio
from typing import Any

from server import (
    AppError,
    action,
    internal,
    internal_action,
    internal_mutation,
    mutation,
    query,
    v,
)


@internal_mutation(args={"text": v.string()})
async def add_note(ctx: Any, text: str) -> str:
    return await ctx.db.insert("notes", {"text": text})


@internal_mutation()
async def refuse(ctx: Any) -> None:
    await ctx.db.insert("notes", {"text": "never kept"})
    raise AppError("refused on purpose")


@internal_action(args={"text": v.string()})
async def shout(ctx: Any, text: str) -> str:
    return await ctx.run_mutation(internal.jobs.add_note, {"text": text.upper()})


@internal_action()
async def crash(ctx: Any) -> None:
    raise RuntimeError("an action that fails")


@mutation(args={"text": v.string(), "delay": v.float64()})
async def later(ctx: Any, text: str, delay: float) -> str:
    return await ctx.scheduler.run_after(delay, internal.jobs.add_note, {"text": text})


@mutation(args={"text": v.string()})
async def later_then_fail(ctx: Any, text: str) -> None:
    await ctx.scheduler.run_after(0, internal.jobs.add_note, {"text": text})
    raise AppError("the mutation failed after scheduling")


@mutation(args={"fn": v.string(), "delay": v.float64()})
async def schedule(ctx: Any, fn: str, delay: float) -> str:
    return await ctx.scheduler.run_after(delay, fn, {})


@mutation(args={"count": v.float64()})
async def many(ctx: Any, count: float) -> list[str]:
    return [
        await ctx.scheduler.run_after(0, add_note, {"text": f"n{i}"}) for i in range(int(count))
    ]


@mutation(args={"at": v.float64(), "text": v.string()})
async def at(ctx: Any, at: float, text: str) -> str:
    return await ctx.scheduler.run_at(at, "jobs:add_note", {"text": text})


@mutation(args={"id": v.string()})
async def cancel(ctx: Any, id: str) -> None:
    await ctx.scheduler.cancel(id)


@action(args={"text": v.string()})
async def from_action(ctx: Any, text: str) -> str:
    return await ctx.scheduler.run_after(0, internal.jobs.shout, {"text": text})


@query()
async def notes(ctx: Any) -> list[str]:
    return [doc["text"] for doc in await ctx.db.query("notes").collect()]


@query(args={"id": v.string()})
async def job(ctx: Any, id: str) -> Any:
    return await ctx.db.system.get(id)


@query()
async def jobs(ctx: Any) -> list[Any]:
    return await ctx.db.system.query("_scheduled_functions").collect()


@mutation(args={"id": v.string()})
async def tamper(ctx: Any, id: str) -> None:
    await ctx.db.patch(id, {"name": "jobs:refuse"})


@mutation(args={"prefix": v.string(), "count": v.float64(), "at": v.float64()})
async def batch(ctx: Any, prefix: str, count: float, at: float) -> float:
    """`count` jobs adding notes `prefix0`, `prefix1`..., all due at `at`."""
    for i in range(int(count)):
        await ctx.scheduler.run_at(at, add_note, {"text": f"{prefix}{i}"})
    return count


@query()
async def note_count(ctx: Any) -> float:
    return float(len(await ctx.db.query("notes").collect()))


@internal_mutation()
async def mark_started(ctx: Any) -> None:
    await ctx.db.insert("starts", {})


@internal_action()
async def linger(ctx: Any) -> None:
    """Records that it started, then outlives any test: a node killed now
    leaves the job inProgress."""
    await ctx.run_mutation(internal.jobs.mark_started, {})
    await asyncio.sleep(3600)


@query()
async def starts(ctx: Any) -> float:
    return float(len(await ctx.db.query("starts").collect()))


@query()
async def schedule_from_query(ctx: Any) -> str:
    return await ctx.scheduler.run_after(0, internal.jobs.add_note, {"text": "no"})


@internal_mutation()
async def cancel_itself(ctx: Any) -> None:
    """A job that cancels its own job document while it runs."""
    for job in await ctx.db.system.query("_scheduled_functions").collect():
        if job["name"] == "jobs:cancel_itself" and job["state"]["kind"] == "pending":
            await ctx.scheduler.cancel(job["_id"])
    await ctx.db.insert("notes", {"text": "ran, then canceled"})
