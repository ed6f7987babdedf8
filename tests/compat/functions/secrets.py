"""Internal functions: actions call them, no client may."""

from __future__ import annotations

from typing import Any

from server import action, api, internal, internal_action, internal_mutation, internal_query, v

__all__ = ["add", "count", "echo", "relay", "whoami", "write_through_internals", "wrong_reference"]


@internal_query()
async def count(ctx: Any) -> int:
    return len(await ctx.db.query("notes").collect())


@internal_query()
async def whoami(ctx: Any) -> str | None:
    """The caller's subject: an admin acting as a user is that user."""
    identity = await ctx.auth.get_user_identity()
    return None if identity is None else identity.subject


@internal_mutation(args={"body": v.string()})
async def add(ctx: Any, body: str) -> str:
    return await ctx.db.insert("notes", {"body": body})


@internal_action(args={"text": v.string()})
async def echo(ctx: Any, text: str) -> str:
    return text.upper()


@internal_action(args={"body": v.string()})
async def relay(ctx: Any, body: str) -> str:
    return await ctx.run_mutation("secrets:add", {"body": body})


@action(args={"body": v.string()})
async def write_through_internals(ctx: Any, body: str) -> dict[str, Any]:
    """Every way to name an internal function: a reference, the handler, a
    path string, and an internal action that calls another."""
    first = await ctx.run_mutation(internal.secrets.add, {"body": body})
    second = await ctx.run_mutation(add, {"body": f"{body} again"})
    third = await ctx.run_action(internal.secrets.relay, {"body": f"{body} relayed"})
    shout = await ctx.run_action(echo, {"text": body})
    return {
        "ids": [first, second, third],
        "count": await ctx.run_query("secrets:count"),
        "shout": shout,
    }


@action()
async def wrong_reference(ctx: Any) -> str:
    """An internal function named through `api`: refused with a hint."""
    return await ctx.run_query(api.secrets.count)
