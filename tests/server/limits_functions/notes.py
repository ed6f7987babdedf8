from __future__ import annotations

from typing import Any

from server import mutation, query, v


@mutation(args={"text": v.string()})
async def add(ctx: Any, text: str) -> str:
    return await ctx.db.insert("notes", {"text": text})


@query()
async def texts(ctx: Any) -> list[str]:
    return [note["text"] for note in await ctx.db.query("notes").collect()]
