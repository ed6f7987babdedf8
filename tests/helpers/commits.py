"""Waiting on an engine's published commits instead of on time."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from server.sync.engine import Engine
from tests.helpers.timeouts import EVENT

__all__ = ["CommitWaiter"]


class CommitWaiter:
    """Looks again at a condition after every commit `engine` publishes."""

    def __init__(self, engine: Engine) -> None:
        self._changed = asyncio.Event()
        engine.watch(lambda _: self._changed.set())

    async def until(self, check: Callable[[], Awaitable[Any]], timeout: float = EVENT) -> Any:
        """`check()`'s first truthy value, looked at after every commit."""
        async with asyncio.timeout(timeout):
            while True:
                self._changed.clear()
                value = await check()
                if value:
                    return value
                await self._changed.wait()
