"""Chat messages: send, read a channel, read by author, read your own."""

from __future__ import annotations

from typing import Any

from server import AppError, mutation, query, v

# Bound before `list` below shadows the builtin in this module.
Rows = list[dict[str, Any]]

__all__ = ["get_for_current_user", "list", "list_by_author", "send"]

PAGE = 50


@mutation(args={"channel": v.string(), "body": v.string()})
async def send(ctx: Any, channel: str, body: str) -> str:
    """Post `body` to `channel`; the author is the caller's email, or None when signed out."""
    identity = await ctx.auth.get_user_identity()
    author = identity.email if identity is not None else None
    return await ctx.db.insert("messages", {"channel": channel, "body": body, "author": author})


@query(args={"channel": v.string()})
async def list(ctx: Any, channel: str) -> Rows:
    """The newest 50 messages of `channel`, newest first."""
    return await (
        ctx.db.query("messages")
        .with_index("by_channel", lambda q: q.eq("channel", channel))
        .order("desc")
        .take(PAGE)
    )


@query(args={"author": v.string()})
async def list_by_author(ctx: Any, author: str) -> Rows:
    """Every message `author` sent, oldest first."""
    return await (
        ctx.db.query("messages").with_index("by_author", lambda q: q.eq("author", author)).collect()
    )


@query()
async def get_for_current_user(ctx: Any) -> Rows:
    """The signed-in caller's own messages (the query of the Clerk + Convex guide)."""
    identity = await ctx.auth.get_user_identity()
    if identity is None:
        raise AppError("Not authenticated")
    return await (
        ctx.db.query("messages")
        .with_index("by_author", lambda q: q.eq("author", identity.email))
        .collect()
    )
