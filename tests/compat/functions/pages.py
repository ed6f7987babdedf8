"""Paginated queries over `items`, as the official clients' page subscriptions use them."""

from __future__ import annotations

from typing import Any

from server import mutation, pagination_opts_validator, query, v

__all__ = ["add", "by_rank", "newest", "remove", "two_pages"]

Page = dict[str, Any]


@mutation(args={"rank": v.number(), "label": v.string()})
async def add(ctx: Any, rank: float, label: str) -> str:
    return await ctx.db.insert("items", {"rank": rank, "label": label})


@mutation(args={"label": v.string()})
async def remove(ctx: Any, label: str) -> None:
    """Delete every item called `label`."""
    for item in (
        await ctx.db.query("items").filter(lambda q: q.eq(q.field("label"), label)).collect()
    ):
        await ctx.db.delete(item["_id"])


@query(args={"paginationOpts": pagination_opts_validator})
async def newest(ctx: Any, paginationOpts: dict[str, Any]) -> Page:  # noqa: N803 (the clients' name)
    """Items newest first."""
    return await ctx.db.query("items").order("desc").paginate(paginationOpts)


@query(args={"paginationOpts": pagination_opts_validator})
async def by_rank(ctx: Any, paginationOpts: dict[str, Any]) -> Page:  # noqa: N803
    """Items by rank, lowest first."""
    return await ctx.db.query("items").with_index("by_rank").paginate(paginationOpts)


@query(args={"paginationOpts": pagination_opts_validator})
async def two_pages(ctx: Any, paginationOpts: dict[str, Any]) -> list[Page]:  # noqa: N803
    """Two paginated queries in one function: refused."""
    first = await ctx.db.query("items").paginate(paginationOpts)
    return [first, await ctx.db.query("items").order("desc").paginate(paginationOpts)]
