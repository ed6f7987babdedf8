"""Chat messages: send (optionally with an image, or vanishing after a while:
the scheduler deletes it), delete, read a channel (whole or page by page),
search a channel, read by author, read your own."""

from __future__ import annotations

import time
from typing import Any

from server import (
    AppError,
    internal,
    internal_mutation,
    mutation,
    pagination_opts_validator,
    query,
    v,
)

# Bound before `list` below shadows the builtin in this module.
Rows = list[dict[str, Any]]

__all__ = [
    "generate_upload_url",
    "get_for_current_user",
    "list",
    "list_by_author",
    "list_paginated",
    "remove",
    "search",
    "send",
    "vanish",
]

PAGE = 50


@mutation()
async def generate_upload_url(ctx: Any) -> str:
    """Where a signed-in client uploads an image before sending it."""
    if await ctx.auth.get_user_identity() is None:
        raise AppError("Sign in to attach images")
    return await ctx.storage.generate_upload_url()


@mutation(
    args={
        "channel": v.string(),
        "body": v.string(),
        "vanishAfter": v.optional(v.float64()),
        "image": v.optional(v.id("_storage")),
    }
)
async def send(
    ctx: Any,
    channel: str,
    body: str,
    vanishAfter: float | None = None,  # noqa: N803
    image: str | None = None,
) -> str:
    """Post `body` to `channel`; the author is the caller's email, or None when
    signed out. `image` is an uploaded image's storage id. With `vanishAfter`
    (seconds) the message deletes itself then."""
    identity = await ctx.auth.get_user_identity()
    author = identity.email if identity is not None else None
    message = {"channel": channel, "body": body, "author": author}
    if image is not None:
        meta = await ctx.storage.get_metadata(image)
        if meta is None or not (meta["contentType"] or "").startswith("image/"):
            raise AppError("Attach an uploaded image")
        message["image"] = image
    if vanishAfter is None:
        return await ctx.db.insert("messages", message)
    expires_at = (time.time() + vanishAfter) * 1000
    id = await ctx.db.insert("messages", {**message, "expiresAt": expires_at})
    # Written with the message: if this mutation fails, nothing is scheduled.
    await ctx.scheduler.run_after(vanishAfter, internal.messages.vanish, {"id": id})
    return id


@internal_mutation(args={"id": v.id("messages")})
async def vanish(ctx: Any, id: str) -> None:
    """Delete a vanishing message when its time is up (no client may call this)."""
    if await ctx.db.get(id) is not None:
        await ctx.db.delete(id)


@query(args={"channel": v.string()})
async def list(ctx: Any, channel: str) -> Rows:
    """The newest 50 messages of `channel`, newest first; one with an image
    carries its URL as `imageUrl`."""
    rows = await (
        ctx.db.query("messages")
        .with_index("by_channel", lambda q: q.eq("channel", channel))
        .order("desc")
        .take(PAGE)
    )
    for row in rows:
        if "image" in row:
            row["imageUrl"] = await ctx.storage.get_url(row["image"])
    return rows


@query(args={"channel": v.string(), "text": v.string()})
async def search(ctx: Any, channel: str, text: str) -> Rows:
    """The 20 messages of `channel` that best match `text` (its last word
    also as a prefix, for search as you type), most relevant first."""
    return await (
        ctx.db.query("messages")
        .with_search_index("search_body", lambda q: q.search("body", text).eq("channel", channel))
        .take(20)
    )


@mutation(args={"id": v.id("messages")})
async def remove(ctx: Any, id: str) -> None:
    """Delete a message; only its author may."""
    identity = await ctx.auth.get_user_identity()
    message = await ctx.db.get(id)
    if message is None:
        return
    if identity is None or message["author"] != identity.email:
        raise AppError("Only the author can delete a message")
    await ctx.db.delete(id)


# `paginationOpts` is the argument name the official clients send.
@query(args={"channel": v.string(), "paginationOpts": pagination_opts_validator})
async def list_paginated(ctx: Any, channel: str, paginationOpts: dict[str, Any]) -> dict[str, Any]:  # noqa: N803
    """`channel` newest first, one page at a time (for `usePaginatedQuery`)."""
    return await (
        ctx.db.query("messages")
        .with_index("by_channel", lambda q: q.eq("channel", channel))
        .order("desc")
        .paginate(paginationOpts)
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
