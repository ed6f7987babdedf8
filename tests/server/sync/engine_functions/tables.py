"""Inserts into a table the caller names, none of them in the schema."""

from __future__ import annotations

from typing import Any

from server import AppError, mutation, v


@mutation(args={"table": v.string()})
async def insert(ctx: Any, table: str) -> str:
    return await ctx.db.insert(table, {})


@mutation(args={"table": v.string()})
async def insert_then_fail(ctx: Any, table: str) -> None:
    await ctx.db.insert(table, {})
    raise AppError({"table": table})
