"""Results large enough to fill a socket that nobody reads."""

from __future__ import annotations

from typing import Any

from server import mutation, query, v


@query(args={"size": v.number()})
async def blob(ctx: Any, size: int) -> dict[str, Any]:
    """The bump count, padded to `size` characters."""
    rows = await ctx.db.query("bumps").collect()
    return {"count": len(rows), "padding": "x" * size}


@mutation()
async def bump(ctx: Any) -> None:
    await ctx.db.insert("bumps", {})
