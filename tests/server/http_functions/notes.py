from __future__ import annotations

from typing import Any

from server import internal_mutation, internal_query, query, v


@internal_mutation(args={"text": v.string()})
async def add(ctx: Any, text: str) -> str:
    return await ctx.db.insert("notes", {"text": text})


@internal_query()
async def count(ctx: Any) -> float:
    return float(len(await ctx.db.query("notes").collect()))


@query()
async def texts(ctx: Any) -> list[str]:
    return [doc["text"] for doc in await ctx.db.query("notes").collect()]
