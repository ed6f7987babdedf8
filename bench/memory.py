"""Scenario 5: server RSS per authenticated connection, idle and with one live
subscription (each its own user and its own query arguments).

`pg-memory` is the subscribed figure with livesync on PostgreSQL (a new
database on the server of LIVESYNC_BENCH_POSTGRES_URL), beside the same on
SQLite in the same run; without a URL it prints that it skipped."""

from __future__ import annotations

import gc

from bench import wire
from bench.harness import (
    POSTGRES_URL_ENV,
    Settings,
    pool,
    postgres_database,
    postgres_server_url,
    server,
)
from bench.load import ClientPlan
from bench.procs import Proc, rss_kb
from bench.report import Figure, at_most, print_figure

__all__ = ["run_memory", "run_pg_memory"]

WARM = 50  # connections opened before the first reading, so imports and caches are paid


def _plans(proc: Proc, first: int, count: int, subscribed: bool) -> list[ClientPlan]:
    # Each connection has its own user and its own query arguments: nothing is shared.
    return [
        ClientPlan(
            proc.ws_url,
            "convex",
            (wire.connect(), wire.authenticate(proc.token(f"user{i}"), 0))
            + ((wire.subscribe("users:get", {"user": f"u{i}"}),) if subscribed else ()),
            ready_query_set=1 if subscribed else 0,
            ready_identity=1,
        )
        for i in range(first, first + count)
    ]


async def _per_connection_kb(
    settings: Settings, clients: int, subscribed: bool, database: str | None = None
) -> float:
    async with server(settings, database=database) as proc, pool(settings) as workers:
        await workers.open(_plans(proc, 0, WARM, subscribed))
        before = rss_kb(proc.pid)
        plans = _plans(proc, WARM, clients - WARM, subscribed)
        gc.collect()
        await workers.open(plans)
        after = rss_kb(proc.pid)
        connections = proc.metric("livesync_connections", 'state="authenticated"')
    assert connections == clients, f"the server reports {connections} of {clients} connections"
    return (after - before) / (clients - WARM)


async def run_memory(settings: Settings) -> list[Figure]:
    clients = settings.size(500, 5000)
    idle = await _per_connection_kb(settings, clients, subscribed=False)
    subscribed = await _per_connection_kb(settings, clients, subscribed=True)
    figures = [
        Figure("memory", f"RSS per authenticated connection, no query ({clients})", idle, "KB"),
        at_most(
            "memory",
            f"RSS per authenticated connection with one live subscription ({clients})",
            subscribed,
            "KB",
            30,
        ),
    ]
    return [print_figure(f) for f in figures]


async def run_pg_memory(settings: Settings) -> list[Figure]:
    server_url = postgres_server_url()
    if server_url is None:
        print(f"[pg-memory] skipped: set {POSTGRES_URL_ENV} to a PostgreSQL server", flush=True)
        return []
    clients = settings.size(500, 5000)
    async with postgres_database(server_url) as url:
        on_pg = await _per_connection_kb(settings, clients, subscribed=True, database=url)
    on_sqlite = await _per_connection_kb(settings, clients, subscribed=True)
    figures = [
        Figure(
            "pg-memory",
            f"RSS per connection with one live subscription on PostgreSQL ({clients})",
            on_pg,
            "KB",
        ),
        Figure("pg-memory", "the same on SQLite", on_sqlite, "KB"),
        Figure("pg-memory", "ratio PostgreSQL / SQLite", on_pg / on_sqlite, "x"),
    ]
    return [print_figure(f) for f in figures]
