"""A minimal notes table: the smallest app that shows subscriptions and pushes."""

from __future__ import annotations

from typing import Any

from server import mutation, query, v

# Bound before `list` below shadows the builtin in this module.
Rows = list[dict[str, Any]]

__all__ = ["add", "list"]


@query()
async def list(ctx: Any) -> Rows:
    """Every note, oldest first."""
    return await ctx.db.query("notes").order("asc").collect()


@mutation(args={"body": v.string()})
async def add(ctx: Any, body: str) -> str:
    """Insert a note and return its id."""
    return await ctx.db.insert("notes", {"body": body})
