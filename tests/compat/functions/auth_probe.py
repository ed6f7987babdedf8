"""Functions that show which identity they ran under, for the auth tests."""

from __future__ import annotations

from typing import Any

from server import mutation, query, v

__all__ = ["notes", "post", "whoami"]


@query()
async def whoami(ctx: Any) -> str | None:
    """The caller's subject, or None when signed out."""
    identity = await ctx.auth.get_user_identity()
    return identity.subject if identity is not None else None


@query()
async def notes(ctx: Any) -> list[str]:
    """Every posted body, oldest first; reads the table but not the identity."""
    rows = await ctx.db.query("auth_notes").order("asc").collect()
    return [row["body"] for row in rows]


@mutation(args={"body": v.string()})
async def post(ctx: Any, body: str) -> str | None:
    """Store `body` and return the subject of whoever posted it."""
    identity = await ctx.auth.get_user_identity()
    await ctx.db.insert("auth_notes", {"body": body})
    return identity.subject if identity is not None else None
