"""The per-channel counter that `messages:send_counted` bumps."""

from __future__ import annotations

from typing import Any

from server import query, v

__all__ = ["get"]


@query(args={"channel": v.string()})
async def get(ctx: Any, channel: str) -> float:
    """The channel's count, 0 before its first counted message."""
    row = await (
        ctx.db.query("counts").with_index("by_channel", lambda q: q.eq("channel", channel)).first()
    )
    return 0.0 if row is None else row["n"]
