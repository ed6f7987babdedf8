"""One shared counter: every subscriber of `counter:get` sees every `counter:bump`."""

from __future__ import annotations

from typing import Any

from server import mutation, query

__all__ = ["bump", "get"]


@query()
async def get(ctx: Any) -> float:
    doc = await ctx.db.query("counters").first()
    return doc["n"] if doc is not None else 0.0


@mutation()
async def bump(ctx: Any) -> float:
    doc = await ctx.db.query("counters").first()
    if doc is None:
        await ctx.db.insert("counters", {"n": 1.0})
        return 1.0
    n: float = doc["n"] + 1
    await ctx.db.patch(doc["_id"], {"n": n})
    return n
