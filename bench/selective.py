"""Scenario 2: selective invalidation.

Every client subscribes to its own user's `users:get`; one writer bumps
single users at a steady rate. Each bump must re-run exactly one query
execution, reach exactly its user's client, and do so quickly.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable

from bench import wire
from bench.harness import Settings, authed_plan, mutator, pool, server
from bench.load import ClientPlan, Event
from bench.report import Figure, at_most, percentile, print_figure

__all__ = ["run_selective"]

RATE = 200.0  # mutations per second
EXECUTIONS = "livesync_query_executions_total"
GC_PASSES = "livesync_gc_collections_total"
GC_MAX = "livesync_gc_pause_max_seconds"
LABEL = 'path="users:get"'


def _schedule(clients: int, count: int, seed: int = 5) -> list[int]:
    """Which user each mutation bumps: shuffled rounds, so repeats are far apart."""
    rng = random.Random(seed)
    users: list[int] = []
    while len(users) < count:
        batch = list(range(clients))
        rng.shuffle(batch)
        users.extend(batch)
    return users[:count]


async def run_selective(settings: Settings) -> list[Figure]:
    clients = settings.size(500, 5000)
    seconds = settings.size(3, 10)
    users = _schedule(clients, int(RATE * seconds))
    async with server(settings) as proc, pool(settings) as workers:
        plans = [
            ClientPlan(
                proc.ws_url,
                "convex",
                (wire.connect(), wire.subscribe("users:get", {"user": f"u{i}"})),
                ready_query_set=1,
            )
            for i in range(clients)
        ]
        await workers.open(plans)
        before = proc.metric(EXECUTIONS, LABEL)
        full_before = proc.metric(GC_PASSES, 'generation="2"')
        async with mutator(authed_plan(proc, proc.token("writer"))) as writer:
            sent = await _send_paced(writer.send, users)
            expected: dict[int, int] = {}
            for user in users:
                expected[user] = expected.get(user, 0) + 1
            await workers.wait(expected, timeout=120)
        events = await workers.collect()
        executions = proc.metric(EXECUTIONS, LABEL) - before
        full_passes = proc.metric(GC_PASSES, 'generation="2"') - full_before
        young_max = max(proc.metric(GC_MAX, f'generation="{g}"') for g in (0, 1))
    latencies, wrong = _match(users, sent, events)
    stray = sum(len(evs) for i, evs in events.items() if i not in expected)
    name = f"{clients} clients, {len(users)} mutations at {RATE:g}/s"
    figures = [
        Figure(
            "selective",
            f"query executions per mutation ({name})",
            executions / len(users),
            "",
            "= 1.0",
            executions == len(users),
        ),
        Figure("selective", "updates to clients whose user did not change", stray, "frames"),
        Figure("selective", "updates carrying the wrong value", wrong, "frames"),
        Figure("selective", "full GC passes while mutating", full_passes, ""),
        Figure("selective", "longest young GC pause since start", young_max * 1000, "ms"),
        at_most("selective", "update latency p50", percentile(latencies, 50), "ms", 5),
        at_most("selective", "update latency p99", percentile(latencies, 99), "ms", 25),
    ]
    return [print_figure(f) for f in figures]


async def _send_paced(send: Callable[[str], Awaitable[int]], users: list[int]) -> list[int]:
    """Send the bumps at RATE per second; returns each send's monotonic stamp."""
    stamps: list[int] = []
    start = time.monotonic()
    for n, user in enumerate(users):
        # Pacing, not synchronisation: the load must arrive at a steady rate.
        delay = start + n / RATE - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        stamps.append(await send(wire.mutation(n, "users:bump", {"user": f"u{user}"})))
    return stamps


def _match(
    users: list[int], sent: list[int], events: dict[int, list[Event]]
) -> tuple[list[float], int]:
    """Pair the k-th bump of a user with that user's k-th update, which must read k."""
    latencies: list[float] = []
    wrong = 0
    seen: dict[int, int] = {}
    for n, user in enumerate(users):
        k = seen.get(user, 0)
        seen[user] = k + 1
        event = events[user][k]
        values = dict(event.values)
        if values.get(0) != float(k + 1):
            wrong += 1
        latencies.append((event.t_ns - sent[n]) / 1e6)
    return latencies, wrong
