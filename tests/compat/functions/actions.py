"""Actions that run other functions: ctx.run_mutation, ctx.run_query and
ctx.run_action, as the HTTP and WebSocket compat tests call them."""

from __future__ import annotations

from typing import Any

from server import AppError, action, mutation, v

__all__ = ["add_note", "add_note_nested", "refuse", "relay_refusal", "run_action_in_mutation"]


@action(args={"body": v.string()})
async def add_note(ctx: Any, body: str) -> str:
    """Insert a note through notes:add; returns its id."""
    print(f"adding {body}")
    return await ctx.run_mutation("notes:add", {"body": body})


@action(args={"body": v.string()})
async def add_note_nested(ctx: Any, body: str) -> dict[str, Any]:
    """Run add_note as a nested action, then count the notes it left."""
    note_id = await ctx.run_action("actions:add_note", {"body": body})
    return {"id": note_id, "count": await ctx.run_query("counts:notes")}


@action()
async def refuse(ctx: Any) -> None:
    raise AppError({"reason": "refused by the inner action"})


@action()
async def relay_refusal(ctx: Any) -> None:
    """Lets the nested action's AppError fail this action with the same data."""
    await ctx.run_action("actions:refuse")


@mutation()
async def run_action_in_mutation(ctx: Any) -> None:
    await ctx.run_action("actions:add_note", {"body": "never"})
