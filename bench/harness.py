"""What every scenario needs: sizes, a server, load clients and a mutator."""

from __future__ import annotations

import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench import wire
from bench.load import ClientPlan, LoadClient, Pool
from bench.procs import Proc, start_baseline, start_livesync

__all__ = ["Settings", "authed_plan", "mutator", "pool", "server"]


@dataclass(frozen=True, slots=True)
class Settings:
    quick: bool
    workers: int
    workdir: Path

    def size(self, quick: int, full: int) -> int:
        return quick if self.quick else full


@asynccontextmanager
async def server(settings: Settings, kind: str = "livesync") -> AsyncIterator[Proc]:
    """A fresh server (its own database and keys) for one measurement."""
    workdir = Path(tempfile.mkdtemp(prefix=f"{kind}-", dir=settings.workdir))
    proc = start_livesync(workdir) if kind == "livesync" else start_baseline(kind, workdir)
    try:
        yield proc
    finally:
        proc.stop()


@asynccontextmanager
async def pool(settings: Settings) -> AsyncIterator[Pool]:
    workers = Pool(settings.workers)
    try:
        yield workers
    finally:
        await workers.close()


def authed_plan(
    proc: Proc, token: str, udf_path: str | None = None, args: dict[str, Any] | None = None
) -> ClientPlan:
    """Connect, Authenticate, and optionally subscribe to one query as queryId 0."""
    frames = [wire.connect(), wire.authenticate(token, 0)]
    if udf_path is not None:
        frames.append(wire.subscribe(udf_path, args or {}))
    return ClientPlan(
        proc.ws_url,
        "convex",
        tuple(frames),
        ready_query_set=1 if udf_path else 0,
        ready_identity=1,
    )


@asynccontextmanager
async def mutator(plan: ClientPlan) -> AsyncIterator[LoadClient]:
    """A client in this (the coordinator's) process that sends the triggering frames."""
    client = LoadClient(plan, lambda: None)
    await client.open()
    try:
        yield client
    finally:
        await client.close()
