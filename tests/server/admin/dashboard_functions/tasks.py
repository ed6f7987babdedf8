"""An app for the dashboard to look at: a query, a mutation, an action that
prints, and an internal function."""

from __future__ import annotations

from typing import Any

from server import action, internal_query, mutation, query, v


@query()
async def list(ctx: Any) -> Any:
    return await ctx.db.query("tasks").with_index("by_priority").collect()


@mutation(args={"text": v.string(), "priority": v.number()})
async def add(ctx: Any, text: str, priority: float) -> Any:
    return await ctx.db.insert("tasks", {"text": text, "done": False, "priority": priority})


@query(args={"greeting": v.string()})
async def hello(ctx: Any, greeting: str) -> Any:
    identity = await ctx.auth.get_user_identity()
    who = identity.subject if identity is not None else "nobody"
    print(f"saying {greeting} to {who}")
    return f"{greeting}, {who}"


@action(args={"text": v.string()})
async def shout(ctx: Any, text: str) -> Any:
    print(f"shouting {text}")
    return text.upper()


@internal_query()
async def count(ctx: Any) -> Any:
    return len(await ctx.db.query("tasks").collect())
