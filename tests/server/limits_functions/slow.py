"""Functions that overrun their limits, each in a different way."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

from server import action, mutation, query, v


@query()
async def spin(ctx: Any) -> None:
    while True:
        pass


@query()
async def sleep(ctx: Any) -> str:
    time.sleep(5)  # blocks the thread it runs on
    return "slept"


@query()
async def wait(ctx: Any) -> str:
    await asyncio.sleep(30)
    return "woke"


@mutation()
async def write_then_wait(ctx: Any) -> None:
    await ctx.db.insert("notes", {"text": "never committed"})
    await ctx.db.query("notes").collect()  # the insert is in SQLite now
    await asyncio.sleep(30)


@mutation()
async def write_then_spin(ctx: Any) -> None:
    await ctx.db.insert("notes", {"text": "never committed"})
    await ctx.db.query("notes").collect()
    while True:
        pass


@action(args={"seconds": v.number()})
async def block(ctx: Any, seconds: float) -> str:
    time.sleep(seconds)  # actions run on a thread of their own
    return "slept"


@action(args={"seconds": v.number()})
async def mark_then_block(ctx: Any, seconds: float) -> str:
    await ctx.run_mutation("notes:add", {"text": "blocking"})  # tells the test it started
    time.sleep(seconds)
    return "slept"


WAITING = threading.Event()  # set once wait_action is waiting


@action()
async def wait_action(ctx: Any) -> str:
    WAITING.set()
    await asyncio.sleep(30)
    return "woke"


@action()
async def spin_action(ctx: Any) -> None:
    while True:
        pass


@action(args={"seconds": v.number()})
async def sleep_then_write(ctx: Any, seconds: float) -> None:
    time.sleep(seconds)
    await ctx.run_mutation("notes:add", {"text": "from an abandoned action"})


@action(args={"seconds": v.number()})
async def block_in_thread(ctx: Any, seconds: float) -> str:
    await asyncio.to_thread(time.sleep, seconds)
    return "slept"
