"""Scenarios of several livesync nodes on one PostgreSQL database (issue 15).

Each starts `python -m server dev` processes as the other scenarios do, here
two on one new database (node A started first, so it creates the schema),
and its baseline, one node on a database of its own on the same PostgreSQL
server, in the same run; the two sides alternate where they can, so a slow
or fast stretch of the machine falls on both alike. Without
LIVESYNC_BENCH_POSTGRES_URL (or the tests' LIVESYNC_TEST_POSTGRES_URL) each
prints that it skipped.

- `nodes-latency`: a mutation sent to node A, until a subscriber on node B
  reads the new value (A's commit NOTIFYs B, which reads the commit log,
  re-runs the query and pushes); against the same on one node. Then a
  third node with no clients joins the database, to show what a commit's
  notification alone costs a node.
- `nodes-fanout`: a mutation on node A pushed to 1,000 subscribers, 500 on
  each node, until the last one reads it; against 1,000 on one node.
- `nodes-throughput`: mutations/s with the writers spread over two nodes
  against the same writers on one node; commits on both nodes queue for one
  advisory lock, so two nodes do not commit faster than one.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import asyncpg

from bench import wire
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
from bench.load import Event, LoadClient, Pool
from bench.procs import Proc, cpu_ms
from bench.report import Figure, at_most, percentile, print_figure
from server.store.postgres import PostgresStore
from server.store.postgres_ops import WRITE_LOCK

__all__ = ["run_nodes_fanout", "run_nodes_latency", "run_nodes_throughput"]

WARMUP = 20
SUBSCRIBERS = 100  # nodes-throughput, as in pg-throughput
WRITERS = 4
STUCK = 20.0  # seconds a subscriber may lag the rest before it counts as stuck
LOCK_SAMPLE = 0.01  # seconds between samples of pg_locks (reading it stalls the lock manager)


def _server_url(scenario: str) -> str | None:
    url = postgres_server_url()
    if url is None:
        print(f"[{scenario}] skipped: set {POSTGRES_URL_ENV} to a PostgreSQL server", flush=True)
    return url


@asynccontextmanager
async def _nodes(settings: Settings, count: int, database: str) -> AsyncIterator[list[Proc]]:
    """`count` livesync nodes on the database URL `database`, started one
    after the other (the first creates the schema)."""
    async with AsyncExitStack() as stack:
        yield [
            await stack.enter_async_context(server(settings, database=database))
            for _ in range(count)
        ]


def _cpu(procs: Sequence[Proc]) -> float:
    return sum(cpu_ms(p.pid) for p in procs)


def postgres_cpu_ms() -> float:
    """CPU time of every `postgres` process on this machine so far (the
    server's backends, WAL writer, checkpointer...); 0 where none is visible."""
    total = 0.0
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            if (proc / "comm").read_text().strip() == "postgres":
                total += int((proc / "schedstat").read_text().split()[0]) / 1e6
        except (OSError, ValueError):
            continue  # exited meanwhile, or not ours to read
    return total


def _delivery(events: list[Event], value: float, t0: int) -> float:
    """Milliseconds from `t0` to the first update carrying `value`."""
    for event in events:
        if any(v == value for _, v in event.values):
            return (event.t_ns - t0) / 1e6
    raise RuntimeError(f"no update carried {value}: {[e.values for e in events]}")


# -- nodes-latency ---------------------------------------------------------


async def run_nodes_latency(settings: Settings) -> list[Figure]:
    name = "nodes-latency"
    server_url = _server_url(name)
    if server_url is None:
        return []
    runs = settings.size(200, 1000)
    cross: list[float] = []  # writer on A, subscriber on B
    near: list[float] = []  # writer on A, subscriber on A (same cluster)
    alone: list[float] = []  # one node: writer and subscriber on it
    async with AsyncExitStack() as stack:
        two_db = await stack.enter_async_context(postgres_database(server_url))
        one_db = await stack.enter_async_context(postgres_database(server_url))
        a, b = await stack.enter_async_context(_nodes(settings, 2, two_db))
        (single,) = await stack.enter_async_context(_nodes(settings, 1, one_db))
        workers = await stack.enter_async_context(pool(settings))
        # Client 0 (on B) and 2 (on A) live in worker 0, client 1 in worker 1.
        await workers.open(
            [
                authed_plan(b, b.token("reader-b"), "counter:get"),
                authed_plan(single, single.token("reader"), "counter:get"),
                authed_plan(a, a.token("reader-a"), "counter:get"),
            ]
        )
        on_a = await stack.enter_async_context(mutator(authed_plan(a, a.token("writer"))))
        on_single = await stack.enter_async_context(
            mutator(authed_plan(single, single.token("writer")))
        )
        cpu_a = cpu_b = cpu_one = 0.0
        for n in range(WARMUP + runs):
            if n == WARMUP:
                cpu_a, cpu_b, cpu_one = cpu_ms(a.pid), cpu_ms(b.pid), cpu_ms(single.pid)
            value = float(n + 1)
            t0 = await on_a.send(wire.mutation(n, "counter:bump", {}))
            await workers.wait({0: 1, 2: 1}, timeout=30)
            events = await workers.collect()
            if n >= WARMUP:
                cross.append(_delivery(events[0], value, t0))
                near.append(_delivery(events[2], value, t0))
            t0 = await on_single.send(wire.mutation(n, "counter:bump", {}))
            await workers.wait({1: 1}, timeout=30)
            events = await workers.collect()
            if n >= WARMUP:
                alone.append(_delivery(events[1], value, t0))
        cpu_a, cpu_b = cpu_ms(a.pid) - cpu_a, cpu_ms(b.pid) - cpu_b
        cpu_one = cpu_ms(single.pid) - cpu_one
        # Then a third node on the same database with no clients: what it
        # spends per commit is the notification alone (wake up, read the
        # log, publish). Started after the timed runs so they had two nodes.
        (idle,) = await stack.enter_async_context(_nodes(settings, 1, two_db))
        extra = settings.size(100, 300)
        cpu_idle = 0.0
        for n in range(WARMUP + runs, 2 * WARMUP + runs + extra):
            if n == 2 * WARMUP + runs:
                cpu_idle = cpu_ms(idle.pid)
            await on_a.send(wire.mutation(n, "counter:bump", {}))
            await workers.wait({0: 1, 2: 1}, timeout=30)
            await workers.collect()
        cpu_idle = (cpu_ms(idle.pid) - cpu_idle) / extra
    figures = [
        at_most(
            name,
            f"node A to subscriber on node B p50 ({runs} runs)",
            percentile(cross, 50),
            "ms",
            10,
        ),
        at_most(name, "node A to subscriber on node B p99", percentile(cross, 99), "ms", 50),
        Figure(
            name, "node A to subscriber on node A (same cluster) p50", percentile(near, 50), "ms"
        ),
        Figure(
            name, "node A to subscriber on node A (same cluster) p99", percentile(near, 99), "ms"
        ),
        Figure(name, "baseline: one node on PostgreSQL p50", percentile(alone, 50), "ms"),
        Figure(name, "baseline: one node on PostgreSQL p99", percentile(alone, 99), "ms"),
        Figure(
            name,
            "ratio p50 node A->B / one node",
            percentile(cross, 50) / percentile(alone, 50),
            "x",
        ),
        Figure(name, "node B CPU per commit (catch-up, re-run, push)", cpu_b / runs, "ms"),
        Figure(name, "node A CPU per commit (mutation, commit, re-run, push)", cpu_a / runs, "ms"),
        Figure(name, "one node CPU per commit", cpu_one / runs, "ms"),
        Figure(
            name,
            f"idle third node (no clients) CPU per commit, {extra} more: the notification alone",
            cpu_idle,
            "ms",
        ),
    ]
    return [print_figure(f) for f in figures]


# -- nodes-fanout ----------------------------------------------------------


@dataclass(slots=True)
class _Side:
    workers: Pool
    writer: LoadClient
    procs: list[Proc]
    split: int  # clients [0, split) are on procs[0], the rest on procs[-1]
    ms: list[float]  # last delivery per round
    first_half: list[float]  # last delivery among clients [0, split)
    second_half: list[float]
    cpu: list[float]  # the servers' CPU ms per round, summed


async def _fanout_round(side: _Side, round_no: int, record: bool) -> None:
    cpu = _cpu(side.procs)
    t0 = await side.writer.send(wire.mutation(round_no, "counter:bump", {}))
    await side.workers.wait_all(1, timeout=120)
    cpu = _cpu(side.procs) - cpu
    events = await side.workers.collect()
    if len(events) != side.workers.size:
        raise RuntimeError(f"{side.workers.size - len(events)} clients missed round {round_no}")
    value = float(round_no + 1)
    times = {i: _delivery(evs, value, t0) for i, evs in events.items()}
    if any(evs[0].failed for evs in events.values()):
        raise RuntimeError("a subscriber got a failed update")
    if record:
        side.ms.append(max(times.values()))
        side.first_half.append(max(t for i, t in times.items() if i < side.split))
        if side.split < side.workers.size:
            side.second_half.append(max(t for i, t in times.items() if i >= side.split))
        side.cpu.append(cpu)


@asynccontextmanager
async def _fanout_side(settings: Settings, procs: list[Proc], clients: int) -> AsyncIterator[_Side]:
    """`clients` subscribers split evenly over `procs` (first half on the
    first), and a writer on the first."""
    per = clients // len(procs)
    async with pool(settings) as workers:
        for index, proc in enumerate(procs):
            count = per if index < len(procs) - 1 else clients - per * index
            tokens = [proc.token(f"user{index}-{i}") for i in range(count)]
            await workers.open([authed_plan(proc, t, "counter:get") for t in tokens])
        writer_plan = authed_plan(procs[0], procs[0].token("writer"))
        async with mutator(writer_plan) as writer:
            yield _Side(workers, writer, procs, per, [], [], [], [])


async def run_nodes_fanout(settings: Settings) -> list[Figure]:
    name = "nodes-fanout"
    server_url = _server_url(name)
    if server_url is None:
        return []
    clients, rounds = settings.size(200, 1000), settings.size(3, 10)
    async with AsyncExitStack() as stack:
        two_db = await stack.enter_async_context(postgres_database(server_url))
        one_db = await stack.enter_async_context(postgres_database(server_url))
        pair = await stack.enter_async_context(_nodes(settings, 2, two_db))
        single = await stack.enter_async_context(_nodes(settings, 1, one_db))
        two = await stack.enter_async_context(_fanout_side(settings, pair, clients))
        one = await stack.enter_async_context(_fanout_side(settings, single, clients))
        await _fanout_round(two, 0, record=False)  # warm-up: caches, first patch path
        await _fanout_round(one, 0, record=False)
        for round_no in range(1, rounds + 1):
            await _fanout_round(two, round_no, record=True)
            await _fanout_round(one, round_no, record=True)
    live2, live1 = statistics.median(two.ms), statistics.median(one.ms)
    half = clients // 2
    figures = [
        Figure(
            name,
            f"two nodes last-delivery median ({clients} clients, {half} per node; {rounds} rounds)",
            live2,
            "ms",
        ),
        Figure(name, "two nodes last-delivery max", max(two.ms), "ms"),
        Figure(
            name,
            "  last delivery on node A (the writer's) median",
            statistics.median(two.first_half),
            "ms",
        ),
        Figure(name, "  last delivery on node B median", statistics.median(two.second_half), "ms"),
        Figure(name, f"baseline: one node last-delivery median ({clients} clients)", live1, "ms"),
        Figure(name, "baseline: one node last-delivery max", max(one.ms), "ms"),
        Figure(name, "ratio two nodes / one node", live2 / live1, "x"),
        Figure(
            name, "server CPU per round, two nodes summed, median", statistics.median(two.cpu), "ms"
        ),
        Figure(name, "server CPU per round, one node, median", statistics.median(one.cpu), "ms"),
    ]
    return [print_figure(f) for f in figures]


# -- nodes-throughput ------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Run:
    rate: float  # mutations/s, first send to the last subscriber's final count
    stuck: int  # subscribers never sent the final count
    commits: int  # rows of commit_log: one per commit (a group of mutations)
    seconds: float
    server_cpu: float  # ms, all nodes
    postgres_cpu: float  # ms, every postgres process
    lock_held: float  # share of pg_locks samples with the write lock granted
    lock_waited: float  # share of samples with a writer waiting for it


class _LockSampler:
    """Polls pg_locks every LOCK_SAMPLE seconds on a connection of its own:
    whether the write lock (`WRITE_LOCK`) is held, and whether a writer
    waits for it, in the database `url`."""

    def __init__(self, url: str) -> None:
        self._url = url
        self._samples: list[tuple[int, int]] = []
        self._task: asyncio.Task[None] | None = None
        self._conn: asyncpg.Connection | None = None

    async def __aenter__(self) -> _LockSampler:
        self._conn = await asyncpg.connect(self._url)
        self._task = asyncio.get_running_loop().create_task(self._run(self._conn))
        return self

    async def _run(self, conn: asyncpg.Connection) -> None:
        # An advisory lock on a bigint key shows as classid (high 32 bits), objid (low).
        query = (
            "SELECT count(*) FILTER (WHERE granted), count(*) FILTER (WHERE NOT granted)"
            " FROM pg_locks WHERE locktype = 'advisory' AND classid = $1 AND objid = $2"
            " AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
        )
        high, low = WRITE_LOCK >> 32, WRITE_LOCK & 0xFFFFFFFF
        while True:
            row = await conn.fetchrow(query, high, low)
            assert row is not None
            self._samples.append((int(row[0]), int(row[1])))
            await asyncio.sleep(LOCK_SAMPLE)

    async def stop(self) -> tuple[float, float]:
        """(share of samples with the lock held, share with a writer waiting)."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        n = max(1, len(self._samples))
        return (
            sum(1 for held, _ in self._samples if held) / n,
            sum(1 for _, waiting in self._samples if waiting) / n,
        )

    async def __aexit__(self, *_: object) -> None:
        await self.stop()
        if self._conn is not None:
            await self._conn.close()


async def _throughput(settings: Settings, server_url: str, nodes: int, count: int) -> _Run:
    """`count` `counter:bump`s pipelined by WRITERS writers, spread evenly
    over `nodes` nodes on a fresh database, with SUBSCRIBERS subscribers
    spread the same way; ends when every subscriber read the final count."""
    async with AsyncExitStack() as stack:
        url = await stack.enter_async_context(postgres_database(server_url))
        procs = await stack.enter_async_context(_nodes(settings, nodes, url))
        workers = await stack.enter_async_context(pool(settings))
        plans = [
            authed_plan(p, p.token(f"user{i}"), "counter:get")
            for i in range(SUBSCRIBERS)
            for p in (procs[i % nodes],)
        ]
        await workers.open(plans)
        clients = [
            await stack.enter_async_context(mutator(authed_plan(p, p.token(f"writer{w}"))))
            for w in range(WRITERS)
            for p in (procs[w % nodes],)
        ]
        sampler = await stack.enter_async_context(_LockSampler(url))
        cpu, pg_cpu = _cpu(procs), postgres_cpu_ms()
        start = time.monotonic_ns()
        for n in range(count):  # round-robin over the writers (and so the nodes), pipelined
            await clients[n % WRITERS].send(wire.mutation(n // WRITERS, "counter:bump", {}))
        try:
            await workers.wait_value(list(range(SUBSCRIBERS)), float(count), timeout=STUCK)
        except RuntimeError:
            pass  # counted below: subscribers the servers stopped updating
        cpu, pg_cpu = _cpu(procs) - cpu, postgres_cpu_ms() - pg_cpu
        held, waited = await sampler.stop()
        events = await workers.collect()
        conn = await asyncpg.connect(url)
        try:
            commits = int(await conn.fetchval("SELECT count(*) FROM commit_log"))
        finally:
            await conn.close()
    final = [evs[-1] for evs in events.values() if dict(evs[-1].values).get(0) == float(count)]
    if not final:
        raise RuntimeError("no subscriber read the final count")
    seconds = (max(e.t_ns for e in final) - start) / 1e9
    return _Run(
        count / seconds, SUBSCRIBERS - len(final), commits, seconds, cpu, pg_cpu, held, waited
    )


@dataclass(frozen=True, slots=True)
class _StoreCosts:
    write_p50: float  # ms, one one-document PostgresStore.write, uncontended
    write_p99: float
    write_pg_cpu: float  # PostgreSQL CPU ms per such commit
    catch_up_p50: float  # ms, another store's commits_after for a one-commit gap
    catch_up_pg_cpu: float  # PostgreSQL CPU ms per commits_after


async def _store_costs(server_url: str, count: int) -> _StoreCosts:
    """In this process, no WebSocket: the commit lock's hold for the smallest
    commit (one `PostgresStore.write` inserting one document: lock, meta,
    rows, COMMIT, each a round trip while the lock is held), and what a node
    pays per notification it is woken by (`commits_after`, one commit)."""
    async with postgres_database(server_url) as url:
        writer, reader = PostgresStore(url), PostgresStore(url)
        await writer.open([])
        await reader.open([])
        try:
            times: list[float] = []
            pg_cpu = 0.0
            previous = 0
            for n in range(WARMUP + count):
                if n == WARMUP:
                    pg_cpu = postgres_cpu_ms()
                t0 = time.perf_counter_ns()
                _, commit = await writer.write(lambda tx: tx.insert("items", {"n": 1.0}))
                times.append((time.perf_counter_ns() - t0) / 1e6)
                previous = commit.previous_ts
            write_pg = (postgres_cpu_ms() - pg_cpu) / count
            reads: list[float] = []
            pg_cpu = postgres_cpu_ms()
            for _ in range(count):
                t0 = time.perf_counter_ns()
                commits = await reader.commits_after(previous)
                reads.append((time.perf_counter_ns() - t0) / 1e6)
                assert commits is not None and len(commits) == 1, commits
            read_pg = (postgres_cpu_ms() - pg_cpu) / count
        finally:
            await reader.close()
            await writer.close()
    written = times[WARMUP:]
    return _StoreCosts(
        percentile(written, 50),
        percentile(written, 99),
        write_pg,
        percentile(reads, 50),
        read_pg,
    )


async def run_nodes_throughput(settings: Settings) -> list[Figure]:
    name = "nodes-throughput"
    server_url = _server_url(name)
    if server_url is None:
        return []
    count, repeats = settings.size(500, 3000), settings.size(1, 3)
    ones: list[_Run] = []
    twos: list[_Run] = []
    for _ in range(repeats):  # alternating, each on a fresh database
        ones.append(await _throughput(settings, server_url, 1, count))
        twos.append(await _throughput(settings, server_url, 2, count))
    figures: list[Figure] = []
    for label, results in (("two nodes", twos), ("one node", ones)):
        rates = [r.rate for r in results]
        run = sorted(results, key=lambda r: r.rate)[len(results) // 2]  # the median run
        figures += [
            Figure(
                name,
                f"{label}: mutations/s median ({count}, {WRITERS} writers, {SUBSCRIBERS} "
                f"subscribers; runs {', '.join(f'{r:,.0f}' for r in rates)})",
                statistics.median(rates),
                "/s",
            ),
            Figure(
                name,
                f"{label}: commits (median run), mutations per commit",
                run.commits,
                f"commits, {count / run.commits:.2f} mutations each",
            ),
            Figure(
                name,
                f"{label}: wall time per commit, an upper bound on the lock's hold",
                run.seconds * 1e3 / run.commits,
                "ms",
            ),
            Figure(
                name,
                f"{label}: write lock held / a writer waiting for it (pg_locks samples)",
                run.lock_held * 100,
                f"% / {run.lock_waited * 100:.0f} %",
            ),
            Figure(name, f"{label}: livesync CPU per mutation", run.server_cpu / count, "ms"),
            Figure(
                name, f"{label}: PostgreSQL CPU per commit", run.postgres_cpu / run.commits, "ms"
            ),
        ]
        if label == "one node":
            figures.append(
                Figure(
                    name,
                    "subscribers never sent the final count (all runs, both sides)",
                    sum(r.stuck for r in ones + twos),
                    "",
                    "= 0",
                    all(r.stuck == 0 for r in ones + twos),
                )
            )
    ratio = statistics.median(r.rate for r in twos) / statistics.median(r.rate for r in ones)
    figures.append(Figure(name, "ratio two nodes / one node", ratio, "x"))
    costs = await _store_costs(server_url, settings.size(200, 1000))
    figures += [
        Figure(
            name,
            "store: one-document commit (PostgresStore.write, lock held throughout) p50",
            costs.write_p50,
            "ms",
        ),
        Figure(name, "store: one-document commit p99", costs.write_p99, "ms"),
        Figure(name, "store: so at most ~1 / p50 commits/s", 1e3 / costs.write_p50, "/s"),
        Figure(name, "store: PostgreSQL CPU per one-document commit", costs.write_pg_cpu, "ms"),
        Figure(
            name,
            "store: another node's commits_after for one commit (per notification) p50",
            costs.catch_up_p50,
            "ms",
        ),
        Figure(name, "store: PostgreSQL CPU per commits_after", costs.catch_up_pg_cpu, "ms"),
    ]
    return [print_figure(f) for f in figures]
