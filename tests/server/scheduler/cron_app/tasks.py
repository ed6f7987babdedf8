"""Functions the cron jobs of the test apps run (their crons.py files are in
../cron_files/; a test copies one in)."""

from __future__ import annotations

from typing import Any

from server import internal, internal_action, internal_mutation, mutation, query, v


@internal_mutation(args={"label": v.string()})
async def record(ctx: Any, label: str) -> None:
    await ctx.db.insert("runs", {"label": label})


@internal_action(args={"label": v.string()})
async def record_loudly(ctx: Any, label: str) -> None:
    await ctx.run_mutation(internal.tasks.record, {"label": label.upper()})


@mutation(args={"label": v.string()})
async def record_in_public(ctx: Any, label: str) -> None:
    await ctx.db.insert("runs", {"label": label})


@query()
async def runs(ctx: Any) -> list[str]:
    return [doc["label"] for doc in await ctx.db.query("runs").collect()]


@query()
async def cron_table(ctx: Any) -> list[Any]:
    return await ctx.db.system.query("_cron_jobs").collect()


@query()
async def jobs(ctx: Any) -> list[Any]:
    return await ctx.db.system.query("_scheduled_functions").collect()
