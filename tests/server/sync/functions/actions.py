"""Actions for the HTTP API tests: writes through ctx.run_mutation and
actions that run other actions through ctx.run_action."""

from __future__ import annotations

from typing import Any

from server import AppError, action, mutation, v

__all__ = ["refuse", "relay_refusal", "run_action_in_mutation", "send", "send_via_action"]


@action(args={"channel": v.string(), "body": v.string()})
async def send(ctx: Any, channel: str, body: str) -> str:
    """Post through messages:send; returns the new id."""
    print(f"sending to {channel}")
    return await ctx.run_mutation("messages:send", {"channel": channel, "body": body})


@action(args={"channel": v.string(), "body": v.string()})
async def send_via_action(ctx: Any, channel: str, body: str) -> dict[str, Any]:
    """Run `send` as a nested action, then read the channel back."""
    sent = await ctx.run_action("actions:send", {"channel": channel, "body": body})
    return {"id": sent, "bodies": await ctx.run_query("messages:list", {"channel": channel})}


@action()
async def refuse(ctx: Any) -> None:
    raise AppError({"reason": "action refused"})


@action()
async def relay_refusal(ctx: Any) -> None:
    """Does not catch the nested AppError: it fails this action too."""
    await ctx.run_action("actions:refuse")


@mutation()
async def run_action_in_mutation(ctx: Any) -> None:
    await ctx.run_action("actions:refuse")
