"""Scenario 5: server RSS per idle authenticated connection holding one subscription."""

from __future__ import annotations

import gc

from bench import wire
from bench.harness import Settings, pool, server
from bench.load import ClientPlan
from bench.procs import Proc, rss_kb
from bench.report import Figure, at_most, print_figure

__all__ = ["run_memory"]

WARM = 50  # connections opened before the first reading, so imports and caches are paid


def _plans(proc: Proc, first: int, count: int) -> list[ClientPlan]:
    # Each connection has its own user and its own query arguments: nothing is shared.
    return [
        ClientPlan(
            proc.ws_url,
            "convex",
            (
                wire.connect(),
                wire.authenticate(proc.token(f"user{i}"), 0),
                wire.subscribe("users:get", {"user": f"u{i}"}),
            ),
            ready_query_set=1,
            ready_identity=1,
        )
        for i in range(first, first + count)
    ]


async def run_memory(settings: Settings) -> list[Figure]:
    clients = settings.size(500, 5000)
    async with server(settings) as proc, pool(settings) as workers:
        await workers.open(_plans(proc, 0, WARM))
        before = rss_kb(proc.pid)
        plans = _plans(proc, WARM, clients - WARM)
        gc.collect()
        await workers.open(plans)
        after = rss_kb(proc.pid)
        connections = proc.metric("livesync_connections", 'state="authenticated"')
    per_kb = (after - before) / (clients - WARM)
    figures = [
        Figure("memory", "server RSS with all connections", after / 1024, "MiB"),
        Figure("memory", "authenticated connections the server reports", connections, ""),
        at_most("memory", f"RSS per idle authenticated connection ({clients})", per_kb, "KB", 30),
    ]
    return [print_figure(f) for f in figures]
