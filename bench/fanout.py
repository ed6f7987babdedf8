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
from dataclasses import dataclass

from bench import wire
from bench.harness import Settings, authed_plan, mutator, pool, server
from bench.load import ClientPlan, Pool
from bench.procs import cpu_ms
from bench.report import Figure, at_most, print_figure

__all__ = ["run_fanout", "run_peer"]

Trigger = Callable[[int], Awaitable[int]]
Side = tuple[Pool, Trigger, int]  # the clients, what triggers a round, the server's pid
Baseline = Callable[[Settings, int, int], AbstractAsyncContextManager[Side]]


async def _round(side: Side, round_no: int) -> tuple[float, float, int]:
    """Milliseconds from trigger to last delivery, the server's CPU
    milliseconds in that time, and the largest frame."""
    workers, trigger, pid = side
    cpu = cpu_ms(pid)
    t0 = await trigger(round_no)
    await workers.wait_all(1, timeout=120)
    cpu = cpu_ms(pid) - cpu
    events = await workers.collect()
    if len(events) != workers.size:
        raise RuntimeError(f"{workers.size - len(events)} clients missed round {round_no}")
    first = [evs[0] for evs in events.values()]
    if any(e.failed for e in first):
        raise RuntimeError("a subscriber got a failed update")
    return (max(e.t_ns for e in first) - t0) / 1e6, cpu, max(e.size for e in first)


@asynccontextmanager
async def _livesync(settings: Settings, clients: int) -> AsyncIterator[Side]:
    async with server(settings) as proc, pool(settings) as workers:
        tokens = [proc.token(f"user{i}") for i in range(clients)]
        await workers.open([authed_plan(proc, t, "counter:get") for t in tokens])
        async with mutator(authed_plan(proc, proc.token("writer"))) as writer:

            async def bump(i: int) -> int:
                return await writer.send(wire.mutation(i, "counter:bump", {}))

            yield workers, bump, proc.pid


@asynccontextmanager
async def _bare(settings: Settings, clients: int, size: int) -> AsyncIterator[Side]:
    frame = wire.transition_like(size)
    async with server(settings, "ws") as proc, pool(settings) as workers:
        plan = ClientPlan(proc.ws_url, "raw", ("hello",))
        await workers.open([plan] * clients)
        async with mutator(plan) as writer:

            async def bump(_: int) -> int:
                return await writer.send(f"bump {frame}")

            yield workers, bump, proc.pid


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

            yield workers, bump, proc.pid


@dataclass(frozen=True, slots=True)
class _Compared:
    live: list[float]  # ms to the last delivery, per round
    other: list[float]
    live_cpu: list[float]  # the server's CPU ms, per round
    other_cpu: list[float]
    size: int
    clients: int


async def _alternate(settings: Settings, baseline: Baseline) -> _Compared:
    """Rounds of livesync and the baseline, alternating, after a warm-up
    round each (which also fills caches and the first patch path)."""
    clients, rounds = settings.size(200, 1000), settings.size(3, 10)
    async with _livesync(settings, clients) as live_side:
        _, _, size = await _round(live_side, 0)
        out = _Compared([], [], [], [], size, clients)
        async with baseline(settings, clients, size) as other_side:
            await _round(other_side, 0)
            for round_no in range(1, rounds + 1):
                for side, times, cpus in (
                    (live_side, out.live, out.live_cpu),
                    (other_side, out.other, out.other_cpu),
                ):
                    ms, cpu, _ = await _round(side, round_no)
                    times.append(ms)
                    cpus.append(cpu)
    return out


def _cpu_figures(scenario: str, name: str, compared: _Compared) -> list[Figure]:
    live, other = statistics.median(compared.live_cpu), statistics.median(compared.other_cpu)
    return [
        Figure(scenario, "server CPU per round, livesync median", live, "ms"),
        Figure(scenario, f"server CPU per round, {name} median", other, "ms"),
        Figure(scenario, f"server CPU ratio livesync / {name}", live / other, "x"),
    ]


async def run_fanout(settings: Settings) -> list[Figure]:
    c = await _alternate(settings, _bare)
    live, bare = statistics.median(c.live), statistics.median(c.other)
    figures = [
        Figure(
            "fanout",
            f"livesync last-delivery median ({c.clients} clients, {c.size} B frame)",
            live,
            "ms",
        ),
        Figure("fanout", "livesync last-delivery max", max(c.live), "ms"),
        Figure("fanout", "bare websockets broadcast median", bare, "ms"),
        at_most("fanout", "ratio livesync / bare", live / bare, "x", 1.5),
        *_cpu_figures("fanout", "bare", c),
    ]
    return [print_figure(f) for f in figures]


async def run_peer(settings: Settings) -> list[Figure]:
    c = await _alternate(settings, _socketio)
    live, peer = statistics.median(c.live), statistics.median(c.other)
    figures = [
        Figure("peer", f"livesync last-delivery median ({c.clients} clients)", live, "ms"),
        Figure("peer", "python-socketio room broadcast median", peer, "ms"),
        Figure("peer", "ratio socketio / livesync", peer / live, "x"),
        *_cpu_figures("peer", "socketio", c),
    ]
    return [print_figure(f) for f in figures]
