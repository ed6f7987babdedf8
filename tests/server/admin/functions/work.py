"""Work for a node's figures to count: a query, mutations (one that fails),
and jobs scheduled to succeed or fail."""

from __future__ import annotations

from typing import Any

from server import internal, internal_mutation, mutation, query, v


@query()
async def notes(ctx: Any) -> Any:
    return await ctx.db.query("notes").collect()


@mutation(args={"text": v.string()})
async def add(ctx: Any, text: str) -> Any:
    return await ctx.db.insert("notes", {"text": text})


@mutation()
async def refuse(ctx: Any) -> None:
    raise RuntimeError("a mutation that fails")


@mutation(args={"fail": v.boolean()})
async def schedule(ctx: Any, fail: bool) -> Any:
    job = internal.work.broken if fail else internal.work.add_later
    return await ctx.scheduler.run_after(0, job, {})


@internal_mutation()
async def add_later(ctx: Any) -> Any:
    return await ctx.db.insert("notes", {"text": "scheduled"})


@internal_mutation()
async def broken(ctx: Any) -> None:
    raise RuntimeError("a job that fails")
