"""Functions that fail on purpose, one for each way a failure reaches a client."""

from __future__ import annotations

from typing import Any

from server import AppError, Int64, mutation, query

__all__ = ["app_error", "app_error_mutation", "crash", "refuse"]

SECRET = "internal detail 7f3a"


@query()
async def refuse(ctx: Any) -> None:
    """Fails with a message meant for the caller."""
    raise AppError("query refused on purpose")


@query()
async def app_error(ctx: Any) -> None:
    """Fails with structured data the client receives as ConvexError.data:
    a plain int (a number) and an Int64 (a bigint)."""
    raise AppError({"code": 1, "big": Int64(7)})


@mutation()
async def app_error_mutation(ctx: Any) -> None:
    raise AppError({"code": 1, "big": Int64(7)})


@query()
async def crash(ctx: Any) -> None:
    """An unexpected exception: the client must get a generic message, not SECRET."""
    raise RuntimeError(SECRET)
