"""Messages of one channel; the sync tests subscribe to `list` and write with the mutations."""

from __future__ import annotations

from typing import Any

from server import AppError, mutation, pagination_opts_validator, query, v

# Bound before `list` below shadows the builtin in this module.
Rows = list[dict[str, Any]]

__all__ = ["fail", "list", "page", "send", "send_counted"]


@query(args={"channel": v.string()})
async def list(ctx: Any, channel: str) -> list[str]:
    """The bodies posted to `channel`, oldest first; logs one line per run."""
    print(f"listing {channel}")
    rows: Rows = await (
        ctx.db.query("messages")
        .with_index("by_channel", lambda q: q.eq("channel", channel))
        .collect()
    )
    return [row["body"] for row in rows]


@query(args={"channel": v.string(), "paginationOpts": pagination_opts_validator})
async def page(ctx: Any, channel: str, paginationOpts: dict[str, Any]) -> dict[str, Any]:  # noqa: N803
    """One page of `channel`'s bodies, newest first."""
    result: dict[str, Any] = await (
        ctx.db.query("messages")
        .with_index("by_channel", lambda q: q.eq("channel", channel))
        .order("desc")
        .paginate(paginationOpts)
    )
    return {**result, "page": [row["body"] for row in result["page"]]}


@mutation(args={"channel": v.string(), "body": v.string()})
async def send(ctx: Any, channel: str, body: str) -> str:
    """Post `body` to `channel` and return the new id."""
    return await ctx.db.insert("messages", {"channel": channel, "body": body})


@mutation(args={"channel": v.string(), "body": v.string()})
async def send_counted(ctx: Any, channel: str, body: str) -> float:
    """Post `body` and bump the channel's counter in one commit; returns the new count."""
    await ctx.db.insert("messages", {"channel": channel, "body": body})
    row = await (
        ctx.db.query("counts").with_index("by_channel", lambda q: q.eq("channel", channel)).first()
    )
    if row is None:
        await ctx.db.insert("counts", {"channel": channel, "n": 1.0})
        return 1.0
    await ctx.db.patch(row["_id"], {"n": row["n"] + 1})
    return row["n"] + 1


@mutation(args={"reason": v.string()})
async def fail(ctx: Any, reason: str) -> None:
    """Write, then refuse with structured data: the write must not survive."""
    await ctx.db.insert("messages", {"channel": "failed", "body": reason})
    raise AppError({"reason": reason})
