"""When CPython's cyclic garbage collector may stop the event loop.

CPython starts a full (oldest-generation) collection whenever the objects
promoted to the oldest generation since the last one reach a quarter of it.
A full pass walks every tracked object, and nothing else runs meanwhile:
with 5,000 open connections that is ~680k objects and ~0.5 s on the bench
machine, mostly cache misses. A server that is gaining connections pays it
again at every quarter of growth. Young collections stay cheap, because they
only walk what was allocated since the last one.

With `[server] gc_full_interval` > 0 the server schedules full passes itself:
what is alive once the app has started (modules, functions, the registry) is
frozen out of every pass, CPython never starts a full pass on its own, and one
runs every `gc_full_interval` seconds. The price is that cyclic garbage which
outlived the young generations waits for that pass. A closed long-lived
connection leaves a little (websockets' parser and asyncio's transport each
refer to themselves; our own objects are freed by reference counting), so a
pass also runs once as many connections have closed since the last one as
are open, and at least `CHURN_FLOOR`. With 0, CPython's own policy stays.

Either way every collection is timed into the metrics, so an operator can
see what the collector costs.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import time
from typing import Any

from server.metrics import Metrics

__all__ = ["CHURN_FLOOR", "GcPolicy"]

log = logging.getLogger("livesync.gc")

# gen2's threshold counts gen1 collections; this many never happen.
_NEVER = 2**31 - 1

CHURN_FLOOR = 1000

# One policy owns the process's collector settings at a time (tests start
# several apps in one process); the others only observe.
_owner: GcPolicy | None = None


class GcPolicy:
    """Times every collection and, if asked, schedules the full passes."""

    def __init__(self, full_interval: float, metrics: Metrics) -> None:
        self.full_interval = full_interval
        self._metrics = metrics
        self._started = 0.0
        self._saved: tuple[int, int, int] | None = None
        self._task: asyncio.Task[None] | None = None
        self._closed = 0  # connections closed since the last full pass
        # Each generation's longest pause, kept here: reading the gauge back
        # would collect the whole registry on every collection.
        self._longest: dict[str, float] = {}

    def start(self) -> None:
        global _owner
        gc.callbacks.append(self._observe)
        if self.full_interval <= 0 or _owner is not None:
            return
        _owner = self
        self._saved = gc.get_threshold()
        gc.freeze()
        gc.set_threshold(self._saved[0], self._saved[1], _NEVER)
        self._task = asyncio.get_running_loop().create_task(self._run())

    def stop(self) -> None:
        global _owner
        if self._observe in gc.callbacks:
            gc.callbacks.remove(self._observe)
        if _owner is not self:
            return
        _owner = None
        if self._task is not None:
            self._task.cancel()
        assert self._saved is not None
        gc.set_threshold(*self._saved)
        gc.unfreeze()

    def connection_closed(self, still_open: int) -> None:
        if _owner is not self:
            return
        self._closed += 1
        if self._closed >= max(CHURN_FLOOR, still_open):
            self._collect("connection churn")

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.full_interval)
            self._collect("schedule")

    def _collect(self, why: str) -> None:
        self._closed = 0
        found = gc.collect()
        log.debug("full collection (%s) found %d objects", why, found)

    def _observe(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
            return
        pause = time.perf_counter() - self._started
        generation = str(info["generation"])
        metrics = self._metrics
        metrics.gc_collections.inc(generation)
        metrics.gc_pause_seconds.inc(generation, pause)
        if pause > self._longest.get(generation, 0.0):
            self._longest[generation] = pause
            metrics.gc_pause_max.set(generation, pause)
