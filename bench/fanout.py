"""Scenario 1 (fan-out) and 7 (the socket.io peer doing the same broadcast).

N clients hold one subscription; one trigger; we time from the trigger's
send until the last client has read its update, per round, and report the
median round. The bare baseline broadcasts a Transition-shaped frame of the
size livesync sent, which its clients decode as livesync's decode theirs.
Both systems stay up side by side and their rounds alternate, so a stretch
where the machine is slow or fast falls on both alike.
"""

from __future__ import annotations

import statistics
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager

from bench import wire
from bench.harness import Settings, authed_plan, mutator, pool, server
from bench.load import ClientPlan, Pool
from bench.report import Figure, at_most, print_figure

__all__ = ["run_fanout", "run_peer"]

Trigger = Callable[[int], Awaitable[int]]
Side = tuple[Pool, Trigger]
Baseline = Callable[[Settings, int, int], AbstractAsyncContextManager[Side]]


async def _round(side: Side, round_no: int) -> tuple[float, int]:
    """Milliseconds from trigger to last delivery, and the largest frame."""
    workers, trigger = side
    t0 = await trigger(round_no)
    await workers.wait_all(1, timeout=120)
    events = await workers.collect()
    if len(events) != workers.size:
        raise RuntimeError(f"{workers.size - len(events)} clients missed round {round_no}")
    first = [evs[0] for evs in events.values()]
    if any(e.failed for e in first):
        raise RuntimeError("a subscriber got a failed update")
    return (max(e.t_ns for e in first) - t0) / 1e6, max(e.size for e in first)


@asynccontextmanager
async def _livesync(settings: Settings, clients: int) -> AsyncIterator[Side]:
    async with server(settings) as proc, pool(settings) as workers:
        tokens = [proc.token(f"user{i}") for i in range(clients)]
        await workers.open([authed_plan(proc, t, "counter:get") for t in tokens])
        async with mutator(authed_plan(proc, proc.token("writer"))) as writer:

            async def bump(i: int) -> int:
                return await writer.send(wire.mutation(i, "counter:bump", {}))

            yield workers, bump


@asynccontextmanager
async def _bare(settings: Settings, clients: int, size: int) -> AsyncIterator[Side]:
    frame = wire.transition_like(size)
    async with server(settings, "ws") as proc, pool(settings) as workers:
        plan = ClientPlan(proc.ws_url, "raw", ("hello",))
        await workers.open([plan] * clients)
        async with mutator(plan) as writer:

            async def bump(_: int) -> int:
                return await writer.send(f"bump {frame}")

            yield workers, bump


@asynccontextmanager
async def _socketio(settings: Settings, clients: int, size: int) -> AsyncIterator[Side]:
    async with server(settings, "socketio") as proc, pool(settings) as workers:
        url = proc.url.replace("http", "ws", 1) + "/socket.io/?EIO=4&transport=websocket"
        plan = ClientPlan(url, "socketio", ('42["join"]',))
        await workers.open([plan] * clients)
        # The payload is sized so the whole socket.io frame matches livesync's.
        payload = max(1, size - len('42["update",""]'))
        async with mutator(plan) as writer:

            async def bump(_: int) -> int:
                return await writer.send(f'42["bump",{payload}]')

            yield workers, bump


async def _alternate(
    settings: Settings, baseline: Baseline
) -> tuple[list[float], list[float], int, int]:
    """Per-round times of livesync and the baseline (after a warm-up round
    each, which also fills caches and the first patch path), the frame size
    and the client count."""
    clients, rounds = settings.size(200, 1000), settings.size(3, 10)
    live: list[float] = []
    other: list[float] = []
    async with _livesync(settings, clients) as live_side:
        _, size = await _round(live_side, 0)
        async with baseline(settings, clients, size) as other_side:
            await _round(other_side, 0)
            for round_no in range(1, rounds + 1):
                live.append((await _round(live_side, round_no))[0])
                other.append((await _round(other_side, round_no))[0])
    return live, other, size, clients


async def run_fanout(settings: Settings) -> list[Figure]:
    live, bare, size, clients = await _alternate(settings, _bare)
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
    live, peer, _, clients = await _alternate(settings, _socketio)
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
