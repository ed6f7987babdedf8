"""What every scenario needs: sizes, a server, load clients and a mutator."""

from __future__ import annotations

import os
import tempfile
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg

from bench import wire
from bench.load import ClientPlan, LoadClient, Pool
from bench.procs import Proc, start_baseline, start_livesync

__all__ = [
    "POSTGRES_URL_ENV",
    "Settings",
    "authed_plan",
    "mutator",
    "pool",
    "postgres_database",
    "postgres_server_url",
    "server",
]

POSTGRES_URL_ENV = "LIVESYNC_BENCH_POSTGRES_URL"


@dataclass(frozen=True, slots=True)
class Settings:
    quick: bool
    workers: int
    workdir: Path

    def size(self, quick: int, full: int) -> int:
        return quick if self.quick else full


@asynccontextmanager
async def server(
    settings: Settings, kind: str = "livesync", database: str | None = None, config: str = ""
) -> AsyncIterator[Proc]:
    """A fresh server (its own database and keys) for one measurement; livesync
    on the database URL `database` if given, else on a new SQLite file, with
    the config.toml text `config`."""
    workdir = Path(tempfile.mkdtemp(prefix=f"{kind}-", dir=settings.workdir))
    if kind == "livesync":
        proc = start_livesync(workdir, database, config)
    else:
        proc = start_baseline(kind, workdir)
    try:
        yield proc
    finally:
        proc.stop()


def postgres_server_url() -> str | None:
    """The PostgreSQL server the PostgreSQL scenarios create databases on:
    LIVESYNC_BENCH_POSTGRES_URL, else the tests' LIVESYNC_TEST_POSTGRES_URL."""
    return os.environ.get(POSTGRES_URL_ENV) or os.environ.get("LIVESYNC_TEST_POSTGRES_URL")


@asynccontextmanager
async def postgres_database(server_url: str) -> AsyncIterator[str]:
    """A new empty database on `server_url` for one measurement; dropped after."""
    name = f"livesync_bench_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(server_url)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
        yield urlunsplit(urlsplit(server_url)._replace(path=f"/{name}"))
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


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
