"""Scenario 1 (fan-out) and 7 (the socket.io peer doing the same broadcast).

N clients hold one subscription; one trigger; we time from the trigger's
send until the last client has read its update, per round, and report the
median round. The bare baseline broadcasts a frame of the size livesync sent.
"""

from __future__ import annotations

import statistics
from collections.abc import Awaitable, Callable

from bench import wire
from bench.harness import Settings, authed_plan, mutator, pool, server
from bench.load import ClientPlan, Pool
from bench.report import Figure, at_most, print_figure

__all__ = ["run_fanout", "run_peer"]

Trigger = Callable[[int], Awaitable[int]]


async def _rounds(workers: Pool, trigger: Trigger, rounds: int) -> tuple[list[float], int]:
    """Milliseconds from trigger to last delivery, per round (after one warm-up round)."""
    times: list[float] = []
    size = 0
    for round_no in range(rounds + 1):
        t0 = await trigger(round_no)
        await workers.wait_all(1, timeout=120)
        events = await workers.collect()
        if len(events) != workers.size:
            raise RuntimeError(f"{workers.size - len(events)} clients missed round {round_no}")
        first = [evs[0] for evs in events.values()]
        if any(e.failed for e in first):
            raise RuntimeError("a subscriber got a failed update")
        size = max(e.size for e in first)
        if round_no:  # round 0 warms caches and the first patch path
            times.append((max(e.t_ns for e in first) - t0) / 1e6)
    return times, size


async def _livesync(settings: Settings, clients: int, rounds: int) -> tuple[list[float], int]:
    async with server(settings) as proc, pool(settings) as workers:
        tokens = [proc.token(f"user{i}") for i in range(clients)]
        await workers.open([authed_plan(proc, t, "counter:get") for t in tokens])
        async with mutator(authed_plan(proc, proc.token("writer"))) as writer:

            async def bump(i: int) -> int:
                return await writer.send(wire.mutation(i, "counter:bump", {}))

            return await _rounds(workers, bump, rounds)


async def _bare(settings: Settings, clients: int, rounds: int, size: int) -> list[float]:
    async with server(settings, "ws") as proc, pool(settings) as workers:
        plan = ClientPlan(proc.ws_url, "raw", ("hello",))
        await workers.open([plan] * clients)
        async with mutator(plan) as writer:

            async def bump(_: int) -> int:
                return await writer.send(f"bump {size}")

            return (await _rounds(workers, bump, rounds))[0]


async def _socketio(settings: Settings, clients: int, rounds: int, size: int) -> list[float]:
    async with server(settings, "socketio") as proc, pool(settings) as workers:
        url = proc.url.replace("http", "ws", 1) + "/socket.io/?EIO=4&transport=websocket"
        plan = ClientPlan(url, "socketio", ('42["join"]',))
        await workers.open([plan] * clients)
        # The payload is sized so the whole socket.io frame matches livesync's.
        payload = max(1, size - len('42["update",""]'))
        async with mutator(plan) as writer:

            async def bump(_: int) -> int:
                return await writer.send(f'42["bump",{payload}]')

            return (await _rounds(workers, bump, rounds))[0]


def _sizes(settings: Settings) -> tuple[int, int]:
    return settings.size(200, 1000), settings.size(3, 10)


async def run_fanout(settings: Settings) -> list[Figure]:
    clients, rounds = _sizes(settings)
    live, size = await _livesync(settings, clients, rounds)
    bare = await _bare(settings, clients, rounds, size)
    name = f"{clients} clients, {size} B frame"
    figures = [
        Figure("fanout", f"livesync last-delivery median ({name})", statistics.median(live), "ms"),
        Figure("fanout", "livesync last-delivery max", max(live), "ms"),
        Figure("fanout", "bare websockets broadcast median", statistics.median(bare), "ms"),
        at_most(
            "fanout",
            "ratio livesync / bare",
            statistics.median(live) / statistics.median(bare),
            "x",
            1.5,
        ),
    ]
    return [print_figure(f) for f in figures]


async def run_peer(settings: Settings) -> list[Figure]:
    clients, rounds = _sizes(settings)
    live, size = await _livesync(settings, clients, rounds)
    peer = await _socketio(settings, clients, rounds, size)
    figures = [
        Figure(
            "peer",
            f"livesync last-delivery median ({clients} clients)",
            statistics.median(live),
            "ms",
        ),
        Figure("peer", "python-socketio room broadcast median", statistics.median(peer), "ms"),
        Figure(
            "peer",
            "ratio socketio / livesync",
            statistics.median(peer) / statistics.median(live),
            "x",
        ),
    ]
    return [print_figure(f) for f in figures]
