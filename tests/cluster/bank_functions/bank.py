"""A bank in the spirit of Jepsen's bank test: money only moves, so the
total of all balances never changes, and every transfer is recorded once."""

from __future__ import annotations

from typing import Any

from server import AppError, mutation, query, v


@mutation(args={"names": v.array(v.string()), "balance": v.number()})
async def open_accounts(ctx: Any, names: list[str], balance: float) -> None:
    for name in names:
        await ctx.db.insert("accounts", {"name": name, "balance": balance})


async def _account(ctx: Any, name: str) -> dict[str, Any]:
    found = await (
        ctx.db.query("accounts").with_index("by_name", lambda q: q.eq("name", name)).first()
    )
    if found is None:
        raise AppError(f"no account {name}")
    return dict(found)


@mutation(
    args={"tid": v.string(), "source": v.string(), "target": v.string(), "amount": v.number()}
)
async def transfer(ctx: Any, tid: str, source: str, target: str, amount: float) -> bool:
    """Moves `amount` unless the source lacks it; False when refused. Run
    twice, it would record `tid` twice: the test counts on the server's
    request dedup, not on this function, for exactly once."""
    a, b = await _account(ctx, source), await _account(ctx, target)
    if a["balance"] < amount:
        return False
    await ctx.db.patch(a["_id"], {"balance": a["balance"] - amount})
    await ctx.db.patch(b["_id"], {"balance": b["balance"] + amount})
    await ctx.db.insert("transfers", {"tid": tid, "amount": amount})
    return True


@query()
async def total(ctx: Any) -> dict[str, float]:
    accounts = await ctx.db.query("accounts").collect()
    return {"accounts": len(accounts), "total": sum(a["balance"] for a in accounts)}


@query()
async def transfer_ids(ctx: Any) -> list[str]:
    return [t["tid"] for t in await ctx.db.query("transfers").collect()]
