"""Scenario 6: one mutation to one subscriber on an otherwise idle server."""

from __future__ import annotations

from bench import wire
from bench.harness import Settings, authed_plan, mutator, pool, server
from bench.report import Figure, at_most, percentile, print_figure

__all__ = ["run_latency"]

WARMUP = 20


async def run_latency(settings: Settings) -> list[Figure]:
    runs = settings.size(200, 1000)
    latencies: list[float] = []
    async with server(settings) as proc, pool(settings) as workers:
        await workers.open([authed_plan(proc, proc.token("reader"), "counter:get")])
        async with mutator(authed_plan(proc, proc.token("writer"))) as writer:
            for n in range(WARMUP + runs):
                t0 = await writer.send(wire.mutation(n, "counter:bump", {}))
                await workers.wait({0: 1}, timeout=30)
                (event,) = (await workers.collect())[0]
                if dict(event.values).get(0) != float(n + 1):
                    raise RuntimeError(f"run {n}: subscriber read {event.values}")
                if n >= WARMUP:
                    latencies.append((event.t_ns - t0) / 1e6)
    figures = [
        at_most(
            "latency",
            f"mutation to subscriber p50 ({runs} runs)",
            percentile(latencies, 50),
            "ms",
            2,
        ),
        at_most("latency", "mutation to subscriber p99", percentile(latencies, 99), "ms", 10),
    ]
    return [print_figure(f) for f in figures]
