"""The server's periodic upkeep: vacuuming old history, pruning stored
mutation results, sweeping orphaned files and expired upload URLs.

Each runs as a task of its own on a fixed interval. A store failure is
logged and the next round tries again; a task that ended anyway shows in
`/health` (`Upkeep.tasks`).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable

from server.config import Config
from server.errors import LivesyncError
from server.storage.service import Storage
from server.sync.engine import Engine

__all__ = ["HISTORY_RETENTION_NS", "Upkeep"]

log = logging.getLogger("livesync.server")

# History older than this is vacuumed. Reads go at most http_api.MAX_SNAPSHOT_AGE_NS
# back (/api/query_at_ts), and no query runs anywhere near the difference.
HISTORY_RETENTION_NS = 300 * 10**9
_VACUUM_INTERVAL_S = 60.0
# Stored mutation results live between `mutation_dedup_window` and this much longer.
_PRUNE_INTERVAL_S = 60.0
# Orphaned files and expired upload URLs are looked for this often.
_STORAGE_SWEEP_S = 600.0


class Upkeep:
    """The upkeep tasks of one server, from `start` to `close`."""

    def __init__(self, engine: Engine, storage: Storage, config: Config) -> None:
        self._engine = engine
        self._storage = storage
        self._dedup_window = config.server.mutation_dedup_window
        # Named as /health reports them.
        self.tasks: dict[str, asyncio.Task[None]] = {}

    def start(self) -> None:
        loop = asyncio.get_running_loop()
        for name, interval, work, what in (
            ("history_vacuum", _VACUUM_INTERVAL_S, self._vacuum_history, "vacuuming history"),
            (
                "result_pruning",
                min(_PRUNE_INTERVAL_S, self._dedup_window),
                self._prune_results,
                "pruning mutation results",
            ),
            ("storage_sweep", _STORAGE_SWEEP_S, self._sweep_storage, "sweeping stored files"),
        ):
            self.tasks[name] = loop.create_task(_every(interval, work, what))

    def close(self) -> None:
        for task in self.tasks.values():
            task.cancel()

    async def _vacuum_history(self) -> None:
        horizon = self._engine.published_ts - HISTORY_RETENTION_NS
        if horizon > 0:
            await self._engine.store.vacuum_before(horizon)

    async def _prune_results(self) -> None:
        await self._engine.prune_mutation_results(time.time_ns(), self._dedup_window)

    async def _sweep_storage(self) -> None:
        engine = self._engine
        files, urls = await self._storage.sweep(engine.store.snapshot(), engine.transact)
        if files or urls:
            log.info(
                "storage sweep: %d orphaned files, %d expired upload URLs removed", files, urls
            )


async def _every(interval: float, work: Callable[[], Awaitable[None]], what: str) -> None:
    """`work` every `interval` seconds; a store failure is logged and the
    next round tries again."""
    while True:
        await asyncio.sleep(interval)
        try:
            await work()
        except LivesyncError:
            log.exception("%s failed", what)
