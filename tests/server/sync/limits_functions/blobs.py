"""Functions that write, return or take as much as they are asked to, for the size limits."""

from __future__ import annotations

from typing import Any

from server import action, mutation, query, v

__all__ = ["count", "echo", "nest", "put", "put_then_return", "repeat", "repeat_action", "grow"]


@mutation(args={"doc": v.any()})
async def put(ctx: Any, doc: dict[str, Any]) -> str:
    """Store `doc` as it is."""
    return await ctx.db.insert("blobs", doc)


@mutation(args={"id": v.string(), "text": v.string()})
async def grow(ctx: Any, id: str, text: str) -> None:
    """Append `text` to the document's `text` field."""
    doc = await ctx.db.get(id)
    await ctx.db.patch(id, {"text": doc["text"] + text})


@mutation(args={"depth": v.float64()})
async def nest(ctx: Any, depth: float) -> str:
    """Store a document whose field `x` nests `depth` - 1 objects (the document is level 1)."""
    value: dict[str, Any] = {}
    for _ in range(int(depth) - 2):
        value = {"x": value}
    return await ctx.db.insert("blobs", {"x": value})


@query()
async def count(ctx: Any) -> float:
    return float(len(await ctx.db.query("blobs").collect()))


@query(args={"text": v.string(), "times": v.float64()})
async def repeat(ctx: Any, text: str, times: float) -> str:
    return text * int(times)


@mutation(args={"text": v.string(), "times": v.float64()})
async def put_then_return(ctx: Any, text: str, times: float) -> str:
    """Write a row, then return `text` repeated: too large a result must undo the write."""
    await ctx.db.insert("blobs", {"text": text})
    return text * int(times)


@action(args={"text": v.string(), "times": v.float64()})
async def repeat_action(ctx: Any, text: str, times: float) -> str:
    return text * int(times)


@query(args={"value": v.any()})
async def echo(ctx: Any, value: Any) -> Any:
    return value
