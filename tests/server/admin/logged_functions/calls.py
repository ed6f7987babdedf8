"""Calls for the function log to record: a query, a mutation, an action
that prints, a failing mutation, and a query that reads the caller."""

from __future__ import annotations

from typing import Any

from server import AppError, action, mutation, query, v


@query(args={"word": v.string()})
async def echo(ctx: Any, word: str) -> Any:
    print(f"echoing {word}")
    return word


@mutation(args={"text": v.string()})
async def add(ctx: Any, text: str) -> Any:
    return await ctx.db.insert("notes", {"text": text})


@action(args={"text": v.string()})
async def shout(ctx: Any, text: str) -> Any:
    print(f"shouting {text}")
    return text.upper()


@mutation()
async def fail(ctx: Any) -> Any:
    print("about to fail")
    raise AppError("deliberately broken")


@query()
async def whoami(ctx: Any) -> Any:
    identity = await ctx.auth.get_user_identity()
    return None if identity is None else identity.subject
