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


@query(args={"owner": v.string()})
async def count_of(ctx: Any, owner: str) -> int:
    """How many rows `owner` has recorded (a full scan: small tables only)."""
    return len(
        [row for row in await ctx.db.query("records").collect() if row.get("owner") == owner]
    )


@mutation(args={"owner": v.string()})
async def record_for(ctx: Any, owner: str) -> None:
    await ctx.db.insert("records", {"owner": owner})


@query()
async def crash(ctx: Any) -> None:
    raise RuntimeError("a function that fails")
