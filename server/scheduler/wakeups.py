"""The loop the job executor and the cron runner share: run a step, then
sleep until the time it names, or until a commit (this node's or another
node's) touches an index the step reads, whichever comes first.

A step that fails is logged and tried again shortly: a database out of
reach is waited out, and a bug stops no job for good.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from server.errors import LivesyncError
from server.scheduler.context import Clock
from server.store.base import Commit

if TYPE_CHECKING:  # no import cycle through the sync layer at run time
    from server.sync.engine import Engine

__all__ = ["RETRY_S", "DueLoop"]

log = logging.getLogger("livesync.scheduler")

# How long to wait before trying again when a step failed.
RETRY_S = 0.5


class DueLoop:
    """Runs `step()` (which returns when, in ms, it has more to do, or None)
    in a task of its own, waking early for commits that touch `index`. It
    never sleeps longer than `longest` seconds: asyncio's timers follow the
    monotonic clock, so a wall clock set forward is noticed within that."""

    def __init__(
        self,
        engine: Engine,
        index: str,
        step: Callable[[], Awaitable[float | None]],
        *,
        what: str,
        clock: Clock,
        longest: float,
    ) -> None:
        self._index = index
        self._step = step
        self._what = what
        self._clock = clock
        self._longest = longest
        self._wake = asyncio.Event()
        self.task: asyncio.Task[None] | None = None
        engine.watch(self._committed)

    def start(self, first: Callable[[], Awaitable[None]] | None = None) -> None:
        """Start the loop, after `first` succeeded (tried again until it does)."""
        self.task = asyncio.get_running_loop().create_task(self._run(first))

    async def close(self) -> None:
        if self.task is not None:
            self.task.cancel()
            await asyncio.gather(self.task, return_exceptions=True)

    def wake(self) -> None:
        """Run the step again now."""
        self._wake.set()

    def _committed(self, commit: Commit | None) -> None:
        if commit is None or any(change.index == self._index for change in commit.keys):
            self._wake.set()

    async def _run(self, first: Callable[[], Awaitable[None]] | None) -> None:
        while first is not None:
            try:
                await first()
                first = None
            except LivesyncError as exc:
                log.warning("%s: starting failed, trying again: %s", self._what, exc)
                await asyncio.sleep(RETRY_S)
        while True:
            self._wake.clear()
            wait = self._longest
            try:
                due = await self._step()
                if due is not None:
                    wait = min(wait, max(0.0, (due - self._clock() * 1000) / 1000))
            except LivesyncError as exc:
                # Out of reach (or a failed read): look again shortly.
                log.warning("%s failed: %s", self._what, exc)
                wait = RETRY_S
            except Exception:
                log.exception("%s failed", self._what)
                wait = RETRY_S
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), wait)
