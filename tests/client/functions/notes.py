"""Notes for the client tests: a list to subscribe to and writes that change it."""

from __future__ import annotations

from typing import Any

from server import AppError, action, internal_query, mutation, query, v

# Bound before `list` below shadows the builtin in this module.
Rows = list[dict[str, Any]]

__all__ = ["add", "bodies", "count", "echo", "fail", "list", "refuse", "secret", "whoami"]


@query()
async def list(ctx: Any) -> Rows:
    """Every note, oldest first."""
    return await ctx.db.query("notes").order("asc").collect()


@query()
async def bodies(ctx: Any) -> list[str]:
    """The body of every note, oldest first."""
    rows = await ctx.db.query("notes").order("asc").collect()
    return [row["body"] for row in rows]


@query(args={"body": v.string()})
async def count(ctx: Any, body: str) -> int:
    """How many notes have exactly this body (an int64 on the wire)."""
    rows = await ctx.db.query("notes").collect()
    return sum(1 for row in rows if row["body"] == body)


@mutation(args={"body": v.string()})
async def add(ctx: Any, body: str) -> str:
    """Insert a note and return its id."""
    return await ctx.db.insert("notes", {"body": body})


@mutation(args={"code": v.int64()})
async def refuse(ctx: Any, code: int) -> None:
    """Always fails with structured data."""
    raise AppError({"code": code})


@query()
async def fail(ctx: Any) -> None:
    """Fails with a plain message."""
    raise AppError("no notes for you")


@query()
async def whoami(ctx: Any) -> str | None:
    """The caller's subject, or None when signed out."""
    identity = await ctx.auth.get_user_identity()
    return None if identity is None else identity.subject


@action(args={"value": v.any()})
async def echo(ctx: Any, value: Any) -> Any:
    """Return the argument unchanged."""
    return value


@internal_query()
async def secret(ctx: Any) -> str:
    """Reachable from the server's side only: to clients it does not exist."""
    return "internal"
