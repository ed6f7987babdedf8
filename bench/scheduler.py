"""Issue 16: many scheduled jobs due at one time, against running them directly.

`scheduler`: a livesync server (SQLite) is sent `jobs:schedule` over HTTP
in batches of 1,000 (Convex's limit per function execution) until 10,000
`jobs:run` jobs are pending, all due at one time T a little after the last
batch commits. A load client subscribed to `jobs:done` (a counter each run
bumps) reads the final count; then the runs' own documents and the
scheduler's `_scheduled_functions` are read back page by page:

- jobs/s: N / (the moment the subscriber read N - T), T turned from the
  server's wall clock into this machine's monotonic clock;
- the delay of each job, from T to the start of its handler (the server's
  wall clock, stamped by the job itself), p50 and p99;
- jobs that ran twice or never (from the runs), and jobs the scheduler did
  not record as `success`: all must be 0.

The baseline, in the same run on a fresh server: the same mutation
(`jobs:run_direct`, the same body) sent N times by 16 clients over the sync
protocol, pipelined as the throughput scenario's writers are, until the
same subscriber reads N; jobs/s from the first send. Both go through the
same committer (groups of up to 64 mutations per transaction), so the ratio
is what scheduling adds: finding due jobs, the job's own reads and writes.

`pg-scheduler`: the same with two nodes on one new PostgreSQL database
(LIVESYNC_BENCH_POSTGRES_URL, or the tests' URL), both executors racing for
the jobs, the subscriber on node B and the batches sent to node A; the
baseline's writers are spread over the two nodes of another new database.
A run's document does not say which node ran it, so the split between the
nodes is not reported; that each job ran exactly once is.

`LIVESYNC_BENCH_PROFILE=DIR` (bench/procs.py) profiles the servers.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx

from bench import wire
from bench.harness import (
    POSTGRES_URL_ENV,
    Settings,
    authed_plan,
    mutator,
    postgres_database,
    postgres_server_url,
    server,
)
from bench.load import Event, Pool
from bench.procs import Proc, cpu_ms
from bench.report import Figure, percentile, print_figure

__all__ = ["run_pg_scheduler", "run_scheduler"]

BATCH = 1000  # jobs per scheduling mutation: Convex's limit per execution
# Clients sending the baseline's mutations, all at once: a connection is
# closed past 1,000 mutations waiting (server.max_pending_mutations), so 16
# keep 10,000 under it.
WRITERS = 16
PAGE = 2000  # documents per page when reading results back
# Seconds between the moment the batches are sent and the due time: enough
# for 10 batches of 1,000 to commit on a busy 2-core machine. Checked: a run
# whose last batch committed after T is not reported but run again on a
# fresh server with twice the lead, up to ATTEMPTS times.
LEAD_S = 1.0
LEAD_PER_BATCH_S = 0.35
ATTEMPTS = 3
# Seconds past T (or the first send) before a run counts as stuck.
TIMEOUT_S = 180.0


@dataclass(frozen=True, slots=True)
class Scheduled:
    rate: float  # jobs/s, T to the final count
    delays: list[float]  # ms, start - scheduledTime, one per run
    twice: int  # jobs whose run is recorded more than once
    never: int  # jobs with no recorded run
    not_success: int  # jobs the scheduler does not record as success
    slack_ms: float  # how long before T the last batch committed
    completed_rate: float  # N / (last completedTime - T), the server's view
    cpu_ms: float  # the servers' CPU per job, from the last batch to the final count


@asynccontextmanager
async def _nodes(settings: Settings, count: int, database: str | None) -> AsyncIterator[list[Proc]]:
    async with AsyncExitStack() as stack:
        yield [
            await stack.enter_async_context(server(settings, database=database))
            for _ in range(count)
        ]


@asynccontextmanager
async def _watcher(proc: Proc) -> AsyncIterator[Pool]:
    """One load client, in a process of its own, subscribed to `jobs:done`."""
    workers = Pool(1)
    try:
        await workers.open([authed_plan(proc, proc.token("watcher"), "jobs:done")])
        yield workers
    finally:
        await workers.close()


async def _call(http: httpx.AsyncClient, proc: Proc, kind: str, path: str, args: Any) -> Any:
    reply = await http.post(
        f"{proc.url}/api/{kind}", json={"path": path, "args": args, "format": "json"}
    )
    body = reply.json()
    if reply.status_code != 200 or body.get("status") != "success":
        raise RuntimeError(f"{kind} {path} failed: {reply.status_code} {body}")
    return body["value"]


async def _pages(http: httpx.AsyncClient, proc: Proc, path: str) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    cursor = None
    while True:
        opts = {"numItems": PAGE, "cursor": cursor}
        page = await _call(http, proc, "query", path, {"paginationOpts": opts})
        rows.extend(page["page"])
        if page["isDone"]:
            return rows
        cursor = page["continueCursor"]


def _final(events: dict[int, list[Event]], count: int) -> int:
    """When the watcher first read `count`, monotonic ns."""
    for event in events.get(0, []):
        if any(value == float(count) for _, value in event.values):
            return event.t_ns
    raise RuntimeError(f"the watcher never read {count}")


class _Late(Exception):
    """The last batch committed after the due time: jobs may have started
    before all were scheduled."""


async def _scheduled(
    settings: Settings, count: int, nodes: int, database: str | None, lead: float
) -> Scheduled:
    async with (
        _nodes(settings, nodes, database) as procs,
        _watcher(procs[-1]) as watcher,
        httpx.AsyncClient(timeout=60) as http,
    ):
        batches = -(-count // BATCH)
        due_ms = time.time() * 1000 + (LEAD_S + LEAD_PER_BATCH_S * batches) * lead * 1000
        for first in range(0, count, BATCH):
            args = {"first": float(first), "count": float(min(BATCH, count - first)), "at": due_ms}
            await _call(http, procs[0], "mutation", "jobs:schedule", args)
        slack_ms = due_ms - time.time() * 1000
        cpu_start = sum(cpu_ms(p.pid) for p in procs)
        if slack_ms <= 0:
            raise _Late(f"scheduling ended {-slack_ms:.0f} ms after the due time")
        # The wall clock's offset to the monotonic one, read once: T in the
        # clock the watcher stamps with.
        offset_ns = time.time_ns() - time.monotonic_ns()
        due_ns = int(due_ms * 1e6) - offset_ns
        await watcher.wait_value([0], float(count), timeout=slack_ms / 1000 + TIMEOUT_S)
        end_ns = _final(await watcher.collect(), count)
        cpu = sum(cpu_ms(p.pid) for p in procs) - cpu_start
        runs = await _pages(http, procs[0], "jobs:runs_page")
        jobs = await _pages(http, procs[0], "jobs:states_page")
    seen = Counter(int(run["n"]) for run in runs)
    last_completed = max(float(job["completedTime"] or 0.0) for job in jobs)
    return Scheduled(
        rate=count / ((end_ns - due_ns) / 1e9),
        delays=[run["started"] - run["due"] for run in runs],
        twice=sum(1 for times in seen.values() if times > 1),
        never=sum(1 for n in range(count) if n not in seen),
        not_success=sum(1 for job in jobs if job["kind"] != "success") + count - len(jobs),
        slack_ms=slack_ms,
        completed_rate=count / ((last_completed - due_ms) / 1000),
        cpu_ms=cpu / count,
    )


async def _in_time(name: str, attempt: Callable[[float], Awaitable[Scheduled]]) -> Scheduled:
    """`attempt(lead)` (a fresh server each time), the lead doubled after a late one."""
    for tries in range(ATTEMPTS):
        try:
            return await attempt(2.0**tries)
        except _Late as late:
            if tries == ATTEMPTS - 1:
                raise RuntimeError(f"[{name}] {late}, {ATTEMPTS} times") from None
            print(f"[{name}] {late}; again with twice the lead", flush=True)
    raise AssertionError("unreachable")


async def _direct(
    settings: Settings, count: int, nodes: int, database: str | None
) -> tuple[float, float]:
    """Jobs/s of the same mutation sent by pipelined clients, over `nodes`,
    and the servers' CPU per job (ms)."""
    if count / WRITERS >= 1000:
        raise ValueError(f"{count} mutations over {WRITERS} clients pass 1,000 per connection")
    async with (
        _nodes(settings, nodes, database) as procs,
        _watcher(procs[-1]) as watcher,
        AsyncExitStack() as stack,
    ):
        clients = [
            await stack.enter_async_context(
                mutator(authed_plan(procs[w % nodes], procs[w % nodes].token(f"writer{w}")))
            )
            for w in range(WRITERS)
        ]
        cpu_start = sum(cpu_ms(p.pid) for p in procs)
        start = time.monotonic_ns()
        for n in range(count):  # round-robin over the writers, all pipelined
            frame = wire.mutation(n, "jobs:run_direct", {"n": float(n), "due": 0.0})
            await clients[n % WRITERS].send(frame)
        await watcher.wait_value([0], float(count), timeout=TIMEOUT_S)
        end_ns = _final(await watcher.collect(), count)
        cpu = sum(cpu_ms(p.pid) for p in procs) - cpu_start
    return count / ((end_ns - start) / 1e9), cpu / count


def _figures(
    name: str, count: int, where: str, run: Scheduled, bare: tuple[float, float]
) -> list[Figure]:
    bare_rate, bare_cpu = bare
    return [
        Figure(name, f"jobs run/s ({count:,} due at once, {where})", run.rate, "/s"),
        Figure(name, "bare: the same mutation sent directly, pipelined", bare_rate, "/s"),
        Figure(name, "ratio scheduler / bare", run.rate / bare_rate, "x"),
        Figure(name, "server CPU per job, scheduled", run.cpu_ms, "ms"),
        Figure(name, "server CPU per job, bare", bare_cpu, "ms"),
        Figure(name, "delay due -> start p50", percentile(run.delays, 50), "ms"),
        Figure(name, "delay due -> start p99", percentile(run.delays, 99), "ms"),
        Figure(name, "jobs/s by the last completedTime (server clock)", run.completed_rate, "/s"),
        Figure(name, "last batch committed before the due time by", run.slack_ms, "ms"),
        Figure(name, "jobs that ran twice", run.twice, "", "= 0", run.twice == 0),
        Figure(name, "jobs that never ran", run.never, "", "= 0", run.never == 0),
        Figure(
            name, "jobs not recorded as success", run.not_success, "", "= 0", run.not_success == 0
        ),
    ]


async def run_scheduler(settings: Settings) -> list[Figure]:
    count = settings.size(1000, 10_000)
    run = await _in_time("scheduler", lambda lead: _scheduled(settings, count, 1, None, lead))
    bare = await _direct(settings, count, 1, None)
    return [print_figure(f) for f in _figures("scheduler", count, "SQLite", run, bare)]


async def run_pg_scheduler(settings: Settings) -> list[Figure]:
    name = "pg-scheduler"
    server_url = postgres_server_url()
    if server_url is None:
        print(f"[{name}] skipped: set {POSTGRES_URL_ENV} to a PostgreSQL server", flush=True)
        return []
    count = settings.size(1000, 10_000)

    async def on_fresh_database(lead: float) -> Scheduled:
        async with postgres_database(server_url) as url:
            return await _scheduled(settings, count, 2, url, lead)

    run = await _in_time(name, on_fresh_database)
    async with postgres_database(server_url) as url:
        bare = await _direct(settings, count, 2, url)
    where = "two nodes on PostgreSQL"
    return [print_figure(f) for f in _figures(name, count, where, run, bare)]
