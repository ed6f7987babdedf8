"""A bank: each transfer moves 1 from checking to savings and writes a
ledger line, so in any consistent snapshot checking + savings is the
opening total and savings equals the ledger's length."""

from __future__ import annotations

from typing import Any

from server import mutation, query

TOTAL = 1_000_000.0


@mutation()
async def open_accounts(ctx: Any) -> None:
    await ctx.db.insert("checking", {"balance": TOTAL})
    await ctx.db.insert("savings", {"balance": 0.0})


@mutation()
async def transfer(ctx: Any) -> None:
    checking = await ctx.db.query("checking").unique()
    savings = await ctx.db.query("savings").unique()
    await ctx.db.patch(checking["_id"], {"balance": checking["balance"] - 1})
    await ctx.db.patch(savings["_id"], {"balance": savings["balance"] + 1})
    await ctx.db.insert("ledger", {"amount": 1.0})


@query()
async def transfers(ctx: Any) -> float:
    savings = await ctx.db.query("savings").unique()
    return savings["balance"] if savings else 0.0
