"""Per-user counters: `users:bump` for one user must re-run only that user's `users:get`."""

from __future__ import annotations

from typing import Any

from server import mutation, query, v

__all__ = ["bump", "get", "whoami"]


async def _score(ctx: Any, user: str) -> Any:
    return await ctx.db.query("scores").with_index("by_user", lambda q: q.eq("user", user)).first()


@query(args={"user": v.string()})
async def get(ctx: Any, user: str) -> float:
    doc = await _score(ctx, user)
    return doc["n"] if doc is not None else 0.0


@mutation(args={"user": v.string()})
async def bump(ctx: Any, user: str) -> float:
    doc = await _score(ctx, user)
    if doc is None:
        await ctx.db.insert("scores", {"user": user, "n": 1.0})
        return 1.0
    n: float = doc["n"] + 1
    await ctx.db.patch(doc["_id"], {"n": n})
    return n


@query()
async def whoami(ctx: Any) -> str | None:
    """The caller's subject: a result that changes with the connection's token."""
    identity = await ctx.auth.get_user_identity()
    return identity.subject if identity is not None else None
