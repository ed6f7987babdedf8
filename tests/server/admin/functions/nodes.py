"""The `_nodes` system table as an admin reads it."""

from __future__ import annotations

from typing import Any

from server import internal_query


@internal_query()
async def listed(ctx: Any) -> list[dict[str, Any]]:
    return await ctx.db.system.query("_nodes").collect()
