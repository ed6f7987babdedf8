"""Store a value and read it back, reporting the Python types the server saw."""

from __future__ import annotations

from typing import Any

from server import mutation, query, v

__all__ = ["latest", "store"]


@mutation(args={"value": v.any()})
async def store(ctx: Any, value: Any) -> dict[str, Any]:
    """Insert `value`; return it with the Python type name of each part."""
    doc_id = await ctx.db.insert("samples", {"value": value})
    stored = await ctx.db.get(doc_id)
    return {"id": doc_id, "value": stored["value"], "types": _type_names(value)}


@query()
async def latest(ctx: Any) -> Any:
    """The most recently stored value, or None."""
    doc = await ctx.db.query("samples").order("desc").first()
    return None if doc is None else doc["value"]


def _type_names(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _type_names(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_type_names(item) for item in value]
    return type(value).__name__
