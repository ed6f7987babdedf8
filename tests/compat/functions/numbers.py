"""Numbers as app code writes them: plain ints, floats and Int64."""

from __future__ import annotations

from typing import Any

from server import Int64, mutation, query, v

__all__ = ["add", "claims", "echo", "strict", "summary", "too_big", "total"]


@mutation(args={"label": v.string()})
async def add(ctx: Any, label: str) -> int:
    """Store a row whose count is a plain int; return how many rows there are."""
    await ctx.db.insert("counted", {"label": label, "count": 5, "exact": Int64(2**62)})
    return len(await ctx.db.query("counted").collect())


@query()
async def summary(ctx: Any) -> dict[str, Any]:
    """len() and stored ints as the clients get them, and how the function saw them."""
    rows = await ctx.db.query("counted").collect()
    first = rows[0] if rows else {"count": 0, "exact": Int64(0)}
    return {
        "count": len(rows),
        "next": len(rows) + 1,
        "stored": first["count"],
        "exact": first["exact"],
        "seen": [type(first["count"]).__name__, type(first["exact"]).__name__],
        "steps": list(range(first["count"])),
    }


@query(args={"n": v.number(), "i": v.int64(), "f": v.float64()})
async def echo(ctx: Any, n: Any, i: Any, f: Any) -> dict[str, Any]:
    """The arguments back, with the Python types the function received."""
    return {"n": n, "i": i, "f": f, "types": [type(x).__name__ for x in (n, i, f)]}


@query()
async def too_big(ctx: Any) -> int:
    """A plain int a float64 cannot hold: refused, never rounded."""
    return 2**60 + 1


@query(args={"channel": v.string()})
async def strict(ctx: Any, channel: str) -> str:
    return channel


@query()
async def claims(ctx: Any) -> Any:
    """The caller's identity as the JS client sees it."""
    identity = await ctx.auth.get_user_identity()
    return None if identity is None else identity.to_json()


@query(args={"scores": v.record(v.string(), v.number())})
async def total(ctx: Any, scores: dict[str, Any]) -> dict[str, Any]:
    """A record argument: an object used as a map of name to number."""
    return {"total": sum(scores.values()), "names": sorted(scores)}
