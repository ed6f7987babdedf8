"""Functions over stored files, for the file storage tests."""

from __future__ import annotations

from typing import Any

from server import AppError, action, mutation, query, v


@mutation()
async def upload_url(ctx: Any) -> str:
    return await ctx.storage.generate_upload_url()


@mutation()
async def upload_url_then_fail(ctx: Any) -> None:
    raise AppError(await ctx.storage.generate_upload_url())


@query(args={"id": v.string()})
async def url(ctx: Any, id: str) -> str | None:
    return await ctx.storage.get_url(id)


@query(args={"id": v.string()})
async def metadata(ctx: Any, id: str) -> Any:
    return await ctx.storage.get_metadata(id)


@query(args={"id": v.string()})
async def document(ctx: Any, id: str) -> Any:
    return await ctx.db.system.get(id)


@mutation(args={"id": v.string()})
async def remove(ctx: Any, id: str) -> None:
    await ctx.storage.delete(id)


@action(args={"text": v.string()})
async def store_text(ctx: Any, text: str) -> dict[str, Any]:
    storage_id = await ctx.storage.store(text.encode(), "text/plain")
    back = await ctx.storage.get(storage_id)
    return {
        "id": storage_id,
        "back": back.decode(),
        "url": await ctx.storage.get_url(storage_id),
        "meta": await ctx.storage.get_metadata(storage_id),
        "fresh_url": await ctx.storage.generate_upload_url(),
    }


@action(args={"id": v.string()})
async def remove_in_action(ctx: Any, id: str) -> Any:
    await ctx.storage.delete(id)
    return await ctx.storage.get(id)
