from __future__ import annotations

import asyncio
from typing import Any

from server import AppError, action, mutation, pagination_opts_validator, query, v


@mutation(args={"topic": v.string(), "text": v.string()})
async def add(ctx: Any, topic: str, text: str) -> str:
    return await ctx.db.insert("notes", {"topic": topic, "text": text})


@query(args={"topic": v.string()})
async def by_topic(ctx: Any, topic: str) -> list[str]:
    rows = (
        await ctx.db.query("notes").with_index("by_topic", lambda q: q.eq("topic", topic)).collect()
    )
    return [row["text"] for row in rows]


@action(args={"topic": v.string(), "text": v.string()})
async def add_via_action(ctx: Any, topic: str, text: str) -> str:
    return await ctx.run_mutation("notes:add", {"topic": topic, "text": text})


# Lets a test hold a query mid-run while a commit lands.
STARTED = asyncio.Event()
GATE = asyncio.Event()


@query(args={"topic": v.string()})
async def gated(ctx: Any, topic: str) -> list[str]:
    STARTED.set()
    await GATE.wait()
    rows = (
        await ctx.db.query("notes").with_index("by_topic", lambda q: q.eq("topic", topic)).collect()
    )
    return [row["text"] for row in rows]


@mutation(args={"topic": v.string()})
async def add_then_fail(ctx: Any, topic: str) -> None:
    await ctx.db.insert("notes", {"topic": topic, "text": "never"})
    raise AppError({"topic": topic})


@query(args={"topic": v.string(), "paginationOpts": pagination_opts_validator})
async def page(ctx: Any, topic: str, paginationOpts: dict[str, Any]) -> dict[str, Any]:  # noqa: N803
    return await (
        ctx.db.query("notes")
        .with_index("by_topic", lambda q: q.eq("topic", topic))
        .order("desc")
        .paginate(paginationOpts)
    )


@query()
async def whoami(ctx: Any) -> str | None:
    identity = await ctx.auth.get_user_identity()
    return None if identity is None else identity.subject
