"""Scenario 3: mutations per second, committed and pushed to 100 subscribers.

Writers pipeline `counter:bump`; the run ends when every subscriber reads
the final count. The baseline is aiosqlite committing one row per
transaction with the store's durability settings (WAL, synchronous=NORMAL).

`pg-throughput` is the same run with livesync on PostgreSQL (a new database
on the server of LIVESYNC_BENCH_POSTGRES_URL, or of the tests'
LIVESYNC_TEST_POSTGRES_URL), against a bare asyncpg loop of one INSERT per
transaction on the same server; without a URL it prints that it skipped.
"""

from __future__ import annotations

import asyncio
import time

from bench import wire
from bench.baselines import postgres_insert_rate, sqlite_insert_rate
from bench.harness import (
    POSTGRES_URL_ENV,
    Settings,
    authed_plan,
    mutator,
    pool,
    postgres_database,
    postgres_server_url,
    server,
)
from bench.report import Figure, at_least, print_figure

__all__ = ["SUBSCRIBERS", "livesync_rate", "run_pg_throughput", "run_throughput"]

SUBSCRIBERS = 100
WRITERS = 4
# A subscriber without the final count this long after the rest is stuck (see BENCHMARKS.md).
STUCK = 20.0


async def livesync_rate(
    settings: Settings,
    count: int,
    database: str | None = None,
    config: str = "",
    writers: int = WRITERS,
) -> tuple[float, int]:
    """Mutations per second of a fresh server (on `database`, with the
    config.toml text `config`) from `writers` connections, and the
    subscribers that never saw the end. A connection may have 1,000
    mutations pending (`[server] max_pending_mutations`), so `count` stays
    under 1,000 times `writers`."""
    async with (
        server(settings, database=database, config=config) as proc,
        pool(settings) as workers,
    ):
        tokens = [proc.token(f"user{i}") for i in range(SUBSCRIBERS)]
        await workers.open([authed_plan(proc, t, "counter:get") for t in tokens])
        senders = [mutator(authed_plan(proc, proc.token(f"writer{w}"))) for w in range(writers)]
        clients = [await w.__aenter__() for w in senders]
        try:
            start = time.monotonic_ns()
            for n in range(count):  # round-robin over the writers, all pipelined
                await clients[n % writers].send(wire.mutation(n, "counter:bump", {}))
            try:
                await workers.wait_value(list(range(SUBSCRIBERS)), float(count), timeout=STUCK)
            except RuntimeError:
                pass  # counted below: subscribers the server stopped updating
            events = await workers.collect()
        finally:
            await asyncio.gather(*(w.__aexit__(None, None, None) for w in senders))
    final = [evs[-1] for evs in events.values() if dict(evs[-1].values).get(0) == float(count)]
    done = max(e.t_ns for e in final)
    return count / ((done - start) / 1e9), SUBSCRIBERS - len(final)


async def run_throughput(settings: Settings) -> list[Figure]:
    count = settings.size(500, 3000)
    live, stuck = await livesync_rate(settings, count)
    bare = await sqlite_insert_rate(settings.workdir / "baseline-insert.db", count)
    figures = [
        Figure(
            "throughput", f"livesync mutations/s ({count}, {SUBSCRIBERS} subscribers)", live, "/s"
        ),
        Figure("throughput", "bare aiosqlite inserts/s (one per transaction)", bare, "/s"),
        at_least("throughput", "ratio livesync / bare", live / bare, "x", 0.5),
        Figure(
            "throughput", "subscribers never sent the final count", stuck, "", "= 0", stuck == 0
        ),
    ]
    return [print_figure(f) for f in figures]


async def run_pg_throughput(settings: Settings) -> list[Figure]:
    server_url = postgres_server_url()
    if server_url is None:
        print(f"[pg-throughput] skipped: set {POSTGRES_URL_ENV} to a PostgreSQL server", flush=True)
        return []
    count = settings.size(500, 3000)
    async with postgres_database(server_url) as url:
        live, stuck = await livesync_rate(settings, count, url)
    async with postgres_database(server_url) as url:
        bare = await postgres_insert_rate(url, count)
    name = "pg-throughput"
    figures = [
        Figure(
            name,
            f"livesync mutations/s on PostgreSQL ({count}, {SUBSCRIBERS} subscribers)",
            live,
            "/s",
        ),
        Figure(name, "bare asyncpg inserts/s (one per transaction)", bare, "/s"),
        at_least(name, "ratio livesync / bare", live / bare, "x", 0.5),
        Figure(name, "subscribers never sent the final count", stuck, "", "= 0", stuck == 0),
    ]
    return [print_figure(f) for f in figures]
