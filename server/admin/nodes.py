"""Which server processes serve the deployment: each node keeps a document
of its own in the `_nodes` system table (who it is, since when, how many
connections in each auth state, a few figures of its work from
`server.admin.stats`), refreshed every `interval` seconds, and deleted when
it stops. A node whose document is older than three intervals is gone
(killed, cut off): the next refresh of any node deletes it. So a query of
`_nodes` (the dashboard's health and connections views) is the live list of
nodes, on SQLite one, on PostgreSQL every node sharing the database.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from server.errors import LivesyncError
from server.store.base import Transaction
from server.store.catalog import NODES
from server.sync.engine import Engine

__all__ = ["STALE_INTERVALS", "NodeInfo", "NodePresence"]

log = logging.getLogger("livesync.server")

# Refreshes a node may miss before the others take it for gone.
STALE_INTERVALS = 3


@dataclass(frozen=True, slots=True)
class NodeInfo:
    """What a node says of itself, fixed for its life."""

    url: str  # how clients reach it
    version: str
    backend: str  # "sqlite" or "postgresql"
    node_id: str = field(default_factory=lambda: uuid.uuid4().hex[:12])
    host: str = field(default_factory=socket.gethostname)
    pid: int = field(default_factory=os.getpid)
    started_at: float = field(default_factory=time.time)

    def document(
        self, now: float, connections: Mapping[str, int], stats: Mapping[str, Any]
    ) -> dict[str, Any]:
        return {
            "nodeId": self.node_id,
            "url": self.url,
            "host": self.host,
            "pid": float(self.pid),
            "version": self.version,
            "backend": self.backend,
            "startedAt": self.started_at * 1000,
            "lastSeen": now * 1000,
            "connections": {state: float(n) for state, n in connections.items()},
            "stats": dict(stats),
        }


class NodePresence:
    """This node's document in `_nodes`, kept fresh by a task of its own."""

    def __init__(
        self,
        engine: Engine,
        info: NodeInfo,
        connections: Callable[[], Mapping[str, int]],
        stats: Callable[[], Mapping[str, Any]],
        interval: float,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.info = info
        self._engine = engine
        self._connections = connections
        self._stats = stats
        self._interval = interval
        self._clock = clock
        self._doc_id: str | None = None
        self.task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self.task = asyncio.get_running_loop().create_task(self._run())

    async def beat(self) -> None:
        """Write this node's document now, and delete those of gone nodes."""
        now = self._clock()
        doc = self.info.document(now, self._connections(), self._stats())
        horizon = (now - STALE_INTERVALS * self._interval) * 1000

        async def refresh(tx: Transaction) -> str:
            own = self._doc_id
            if own is not None and await tx.get(own) is not None:
                await tx.replace(own, doc, system=True)
            else:
                own = await tx.insert(NODES, doc, system=True)
            async for _, other in tx.scan(f"{NODES}.by_creation_time", b"", None):
                if other["_id"] != own and other["lastSeen"] < horizon:
                    await tx.delete(other["_id"], system=True)
                    log.info("node %s (%s) is gone from _nodes", other["nodeId"], other["url"])
            return own

        self._doc_id = await self._engine.transact(refresh)

    async def close(self) -> None:
        """Stop refreshing and take this node's document out."""
        if self.task is not None:
            self.task.cancel()
            # A task that died has told /health already; shutdown goes on.
            await asyncio.gather(self.task, return_exceptions=True)
        own = self._doc_id
        if own is None:
            return

        async def leave(tx: Transaction) -> None:
            if await tx.get(own) is not None:
                await tx.delete(own, system=True)

        try:
            await self._engine.transact(leave)
        except LivesyncError as exc:  # the others drop it once it is stale
            log.warning("could not remove this node from _nodes: %s", exc)

    async def _run(self) -> None:
        while True:
            try:
                await self.beat()
            except LivesyncError:
                log.exception("refreshing this node's _nodes document failed")
            await asyncio.sleep(self._interval)
