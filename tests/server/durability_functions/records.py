"""One row per mutation, for the crash-durability test."""

from __future__ import annotations

from typing import Any

from server import mutation, query, v


@mutation(args={"n": v.number()})
async def record(ctx: Any, n: int) -> int:
    await ctx.db.insert("records", {"n": n})
    return n


@query()
async def all_ns(ctx: Any) -> list[int]:
    return [row["n"] for row in await ctx.db.query("records").collect()]
