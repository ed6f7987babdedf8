"""Chat channels: `channels:list` and `channels:create`."""

from __future__ import annotations

from typing import Any

from server import AppError, mutation, query, v

# Bound before `list` below shadows the builtin in this module.
Rows = list[dict[str, Any]]

__all__ = ["create", "list"]


@query()
async def list(ctx: Any) -> Rows:
    """Every channel, oldest first."""
    return await ctx.db.query("channels").order("asc").collect()


@mutation(args={"name": v.string()})
async def create(ctx: Any, name: str) -> str:
    """Create a channel and return its id; names are unique and non-blank."""
    name = name.strip()
    if not name:
        raise AppError("A channel needs a name")
    # A filter over the small channels table is cheaper to read than an index to maintain.
    existing = await ctx.db.query("channels").filter(lambda q: q.eq(q.field("name"), name)).first()
    if existing is not None:
        raise AppError({"code": "channel_exists", "name": name})
    return await ctx.db.insert("channels", {"name": name})
