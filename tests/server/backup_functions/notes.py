"""Notes with every kind of value, read by index, by search and whole."""

from __future__ import annotations

from typing import Any

from server import Int64, action, mutation, query, v


@mutation(args={"author": v.string(), "body": v.string(), "count": v.int64()})
async def add(ctx: Any, author: str, body: str, count: int) -> str:
    doc = {
        "author": author,
        "body": body,
        "count": Int64(count),
        "blob": body.encode()[:8] + b"\x00\xff",
        "score": float("nan") if count % 7 == 0 else count / 3,
    }
    return await ctx.db.insert("notes", doc)


@query(args={"author": v.string()})
async def by_author(ctx: Any, author: str) -> Any:
    return await (
        ctx.db.query("notes").with_index("by_author", lambda q: q.eq("author", author)).collect()
    )


@query(args={"text": v.string()})
async def search(ctx: Any, text: str) -> Any:
    return await (
        ctx.db.query("notes").with_search_index("search_body", lambda q: q.search("body", text))
    ).take(100)


@query()
async def everything(ctx: Any) -> Any:
    return await ctx.db.query("notes").order("desc").collect()


@action(args={"text": v.string()})
async def attach(ctx: Any, text: str) -> str:
    storage_id = await ctx.storage.store(text.encode(), "text/plain")
    await ctx.run_mutation("notes:add_with_file", {"body": text, "file": storage_id})
    return storage_id


@mutation(args={"body": v.string(), "file": v.id("_storage")})
async def add_with_file(ctx: Any, body: str, file: str) -> str:
    return await ctx.db.insert("notes", {"author": "files", "body": body, "file": file})


@query(args={"id": v.string()})
async def file_url(ctx: Any, id: str) -> Any:
    return await ctx.storage.get_url(id)


@mutation()
async def later(ctx: Any) -> str:
    return await ctx.scheduler.run_after(
        3600, "notes:add", {"author": "job", "body": "x", "count": Int64(1)}
    )


@query(args={"id": v.string()})
async def job(ctx: Any, id: str) -> Any:
    return await ctx.db.system.get(id)
