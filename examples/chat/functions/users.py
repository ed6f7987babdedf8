"""Users, kept in step with Clerk by its webhook (see http.py)."""

from __future__ import annotations

from typing import Any

from server import internal_mutation, query, v

__all__ = ["delete_from_clerk", "list", "upsert_from_clerk"]


@internal_mutation(args={"data": v.any()})
async def upsert_from_clerk(ctx: Any, data: dict[str, Any]) -> str:
    """Insert or update the user a `user.created` / `user.updated` event names."""
    emails = {e.get("id"): e.get("email_address") for e in data.get("email_addresses") or []}
    user = {
        "clerkId": data["id"],
        "email": emails.get(data.get("primary_email_address_id")),
        "name": " ".join(p for p in (data.get("first_name"), data.get("last_name")) if p) or None,
    }
    existing = await (
        ctx.db.query("users")
        .with_index("by_clerk_id", lambda q: q.eq("clerkId", data["id"]))
        .first()
    )
    if existing is None:
        return await ctx.db.insert("users", user)
    await ctx.db.patch(existing["_id"], user)
    return existing["_id"]


@internal_mutation(args={"clerkId": v.string()})
async def delete_from_clerk(ctx: Any, clerkId: str) -> None:  # noqa: N803
    """Remove the user a `user.deleted` event names, if we had them."""
    existing = await (
        ctx.db.query("users").with_index("by_clerk_id", lambda q: q.eq("clerkId", clerkId)).first()
    )
    if existing is not None:
        await ctx.db.delete(existing["_id"])


@query()
async def list(ctx: Any) -> list[dict[str, Any]]:
    """Everyone Clerk told us about, oldest first."""
    return await ctx.db.query("users").collect()
