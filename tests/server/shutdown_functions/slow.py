"""Functions that are still running when the server is told to stop."""

from __future__ import annotations

import asyncio
import sys
from typing import Any

from server import mutation, query


@mutation()
async def write_slowly(ctx: Any) -> str:
    # The test waits for this line on stderr before it sends SIGTERM.
    sys.stderr.write("write_slowly: started\n")
    sys.stderr.flush()
    await asyncio.sleep(0.5)
    await ctx.db.insert("writes", {"done": True})
    return "written"


@query()
async def read_forever(ctx: Any) -> None:
    sys.stderr.write("read_forever: started\n")
    sys.stderr.flush()
    await asyncio.sleep(60)


@query()
async def writes(ctx: Any) -> int:
    return len(await ctx.db.query("writes").collect())
