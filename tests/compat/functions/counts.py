"""A second read of the notes table, for reads that must agree with notes:list."""

from __future__ import annotations

from typing import Any

from server import query

__all__ = ["notes"]


@query()
async def notes(ctx: Any) -> float:
    """How many notes there are (a float: a JS number under any int mapping)."""
    return float(len(await ctx.db.query("notes").collect()))
