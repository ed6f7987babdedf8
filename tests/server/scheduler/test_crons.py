"""Cron jobs on a real store of each backend: `_cron_jobs` follows crons.py
across restarts, a due job runs its function once and records its last
run, missed runs are not made up one after another, a job whose previous
run is unfinished skips a turn, and two nodes on one PostgreSQL database
run each due time once. A real server process runs crons.py on its own.

The runners and the job executors share a clock the test moves, so schedule
math is checked without waiting minutes; every wait is on a commit being
published, with a timeout.
"""

from __future__ import annotations

import asyncio
import shutil
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from client import Client
from server.functions.registry import FunctionRegistry
from server.functions.runner import FunctionRunner
from server.metrics import Metrics
from server.scheduler.crons import CronRunner
from server.scheduler.executor import JobExecutor
from server.store.base import Store
from server.sync.engine import Engine
from tests.helpers.commits import CommitWaiter
from tests.helpers.server import StartServer
from tests.helpers.stores import StoreBackend
from tests.helpers.timeouts import CLIENT, REPLY

APP = Path(__file__).parent / "cron_app"
CRON_FILES = Path(__file__).parent / "cron_files"


def ms(*fields: int) -> float:
    return datetime(*fields, tzinfo=UTC).timestamp() * 1000  # type: ignore[misc]


# Monday 2030-01-07, 08:59:30 UTC.
NOW_MS = ms(2030, 1, 7, 8, 59, 30)


class Clock:
    """Wall-clock time that moves only when the test says."""

    def __init__(self, now_ms: float) -> None:
        self.now = now_ms / 1000

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def app(tmp_path: Path, crons: str) -> Path:
    """A functions folder: cron_app's tasks.py and cron_files/<crons>.py as crons.py."""
    folder = tmp_path / crons
    folder.mkdir()
    shutil.copy(APP / "tasks.py", folder / "tasks.py")
    shutil.copy(CRON_FILES / f"{crons}.py", folder / "crons.py")
    return folder


class Node:
    """An engine, its job executor and its cron runner on one store."""

    def __init__(self, store: Store, functions: Path, clock: Clock) -> None:
        registry = FunctionRegistry.load(functions)
        self.store = store
        self.engine = Engine(store, FunctionRunner(registry, store), Metrics())
        self.jobs = JobExecutor(self.engine, self.engine.metrics, action_timeout=5.0, clock=clock)
        self.crons = CronRunner(self.engine, clock=clock)
        self.until = CommitWaiter(self.engine).until

    async def query(self, path: str) -> Any:
        outcome = await self.engine.run_query(path, {}, None, self.engine.published_ts)
        assert outcome.ok, outcome.error_message
        return outcome.value

    async def table(self) -> dict[str, dict[str, Any]]:
        return {doc["name"]: doc for doc in await self.query("tasks:cron_table")}

    async def runs(self, expected: list[str]) -> None:
        async def ran() -> bool:
            return sorted(await self.query("tasks:runs")) == sorted(expected)

        await self.until(ran)

    async def close(self) -> None:
        await self.crons.close()
        await self.jobs.close()
        await self.engine.close()
        await self.store.close()


async def open_node(backend: StoreBackend, functions: Path, clock: Clock) -> Node:
    store = backend.make()
    await store.open([])
    return Node(store, functions, clock)


async def test_a_restart_with_a_changed_crons_py_adds_updates_and_removes_jobs(
    store_backend: StoreBackend, tmp_path: Path
) -> None:
    clock = Clock(NOW_MS)
    first = await open_node(store_backend, app(tmp_path, "first"), clock)
    try:
        await first.crons.reconcile()
        before = await first.table()
        published = first.engine.published_ts
        await first.crons.reconcile()  # crons.py unchanged: nothing to commit
        assert first.engine.published_ts == published
    finally:
        await first.close()
    assert sorted(before) == ["every minute", "going away", "morning", "weekly"]
    assert before["every minute"]["nextRun"] == NOW_MS  # an interval job runs when deployed
    assert before["morning"]["nextRun"] == ms(2030, 1, 7, 9, 30)
    assert before["weekly"]["nextRun"] == ms(2030, 1, 11, 17, 0)
    assert before["weekly"]["cronSpec"] == {
        "udfPath": "tasks:record",
        "udfArgs": [{"label": "old"}],
        "cronSchedule": {"type": "weekly", "dayOfWeek": "friday", "hourUTC": 17, "minuteUTC": 0},
    }
    assert not any("lastRun" in doc for doc in before.values())

    clock.advance(3600)  # redeployed an hour later, at 09:59:30
    second = await open_node(store_backend, app(tmp_path, "second"), clock)
    try:
        await second.crons.reconcile()
        after = await second.table()
    finally:
        await second.close()
    assert sorted(after) == ["every minute", "morning", "new one", "weekly"]
    # Unchanged: the very same document, its time kept.
    assert after["every minute"] == before["every minute"]
    # A new schedule: due afresh, at 10:00 today.
    assert after["morning"]["_id"] == before["morning"]["_id"]
    assert after["morning"]["cronSpec"]["cronSchedule"] == {
        "type": "daily",
        "hourUTC": 10,
        "minuteUTC": 0,
    }
    assert after["morning"]["nextRun"] == ms(2030, 1, 7, 10, 0)
    # New arguments only: the job keeps its time.
    assert after["weekly"]["cronSpec"]["udfArgs"] == [{"label": "new"}]
    assert after["weekly"]["nextRun"] == before["weekly"]["nextRun"]
    assert after["new one"]["cronSpec"]["udfPath"] == "tasks:record_loudly"
    assert after["new one"]["nextRun"] == ms(2030, 2, 1, 0, 0)


async def test_due_jobs_run_once_record_their_last_run_and_skip_missed_runs(
    store_backend: StoreBackend, tmp_path: Path
) -> None:
    clock = Clock(NOW_MS)
    node = await open_node(store_backend, app(tmp_path, "running"), clock)
    node.jobs.start()
    node.crons.start()
    try:
        # The interval job runs as soon as it is deployed; the others wait.
        await node.runs(["tick"])
        table = await node.table()
        assert (table["tick"]["lastRun"], table["tick"]["nextRun"]) == (NOW_MS, NOW_MS + 60_000)
        assert "lastRun" not in table["report"] and "lastRun" not in table["public"]
        assert table["report"]["nextRun"] == ms(2030, 1, 7, 9, 0)

        clock.advance(60)  # 09:00:30: the daily action and the tick are due
        node.crons.wake()
        await node.runs(["tick", "tick", "REPORT"])
        table = await node.table()
        assert table["report"]["lastRun"] == ms(2030, 1, 7, 9, 0, 30)
        assert table["report"]["nextRun"] == ms(2030, 1, 8, 9, 0)
        assert table["tick"]["nextRun"] == ms(2030, 1, 7, 9, 1, 30)

        clock.advance(15 * 60)  # 09:15:30: fourteen ticks missed, one run
        node.crons.wake()
        await node.runs(["tick", "tick", "tick", "REPORT"])
        table = await node.table()
        assert table["tick"]["lastRun"] == ms(2030, 1, 7, 9, 15, 30)
        assert table["tick"]["nextRun"] == ms(2030, 1, 7, 9, 16, 30)

        clock.advance(30 * 60)  # 09:45:30: the public mutation's hour
        node.crons.wake()
        await node.runs(["tick", "tick", "tick", "tick", "REPORT", "public"])

        async def all_done() -> list[Any]:
            jobs = await node.query("tasks:jobs")
            return jobs if all(job["state"]["kind"] == "success" for job in jobs) else []

        jobs = await node.until(all_done)
        assert sorted(job["name"] for job in jobs) == [
            "tasks:record",
            "tasks:record",
            "tasks:record",
            "tasks:record",
            "tasks:record_in_public",
            "tasks:record_loudly",
        ]
        table = await node.table()
        assert {table[name]["lastJob"] for name in table} <= {job["_id"] for job in jobs}
    finally:
        await node.close()


async def test_a_job_whose_previous_run_is_unfinished_skips_a_turn(
    store_backend: StoreBackend, tmp_path: Path
) -> None:
    clock = Clock(NOW_MS)
    node = await open_node(store_backend, app(tmp_path, "running"), clock)
    try:
        await node.crons.reconcile()
        # No executor yet: the tick's first run stays pending.
        assert await node.crons.run_due() == ms(2030, 1, 7, 9, 0)
        clock.advance(60)  # 09:00:30
        assert await node.crons.run_due() == ms(2030, 1, 7, 9, 1, 30)
        table = await node.table()
        assert table["tick"]["lastRun"] == NOW_MS  # skipped, not run again
        assert table["tick"]["nextRun"] == ms(2030, 1, 7, 9, 1, 30)
        assert node.engine.metrics.cron_runs.by_label()["skipped"] == 1
        assert table["report"]["lastRun"] == ms(2030, 1, 7, 9, 0, 30)
        assert len(await node.query("tasks:jobs")) == 2

        node.jobs.start()
        await node.runs(["tick", "REPORT"])
        clock.advance(60)  # 09:01:30: the last run finished, so this one runs
        await node.crons.run_due()
        await node.runs(["tick", "tick", "REPORT"])
        assert (await node.table())["tick"]["lastRun"] == ms(2030, 1, 7, 9, 1, 30)
    finally:
        await node.close()


async def test_two_nodes_run_each_due_time_exactly_once(
    store_backend: StoreBackend, tmp_path: Path
) -> None:
    if store_backend.name != "postgres":
        pytest.skip("nodes share a database on PostgreSQL only")
    clock = Clock(NOW_MS)
    functions = app(tmp_path, "running")
    nodes = [await open_node(store_backend, functions, clock) for _ in range(2)]
    first, second = nodes
    try:
        # Both start at once: one set of jobs, not two.
        await asyncio.gather(*(node.crons.reconcile() for node in nodes))
        for node in nodes:
            node.jobs.start()

        async def finished(count: int) -> bool:
            jobs = await first.query("tasks:jobs")
            return len(jobs) >= count and all(job["state"]["kind"] == "success" for job in jobs)

        for turn in range(5):  # 08:59:30 to 09:03:30: a tick each, and the 9:00 report
            await asyncio.gather(*(node.crons.run_due() for node in nodes))
            # Each run finishes before the next is due (or it would skip a turn).
            expected = turn + 1 + (1 if turn >= 1 else 0)
            await first.until(lambda count=expected: finished(count))
            clock.advance(60)
        # A commit after every run was scheduled: once the first node has
        # seen it, it has seen every job either node scheduled.
        await second.engine.mutate("tasks:record_in_public", {"label": "end"}, None)

        async def settled() -> list[Any]:
            runs = await first.query("tasks:runs")
            jobs = await first.query("tasks:jobs")
            done = "end" in runs and all(job["state"]["kind"] == "success" for job in jobs)
            return jobs if done else []

        jobs = await first.until(settled)
        assert sorted(await first.query("tasks:runs")) == sorted(["tick"] * 5 + ["REPORT", "end"])
        assert sorted(job["name"] for job in jobs) == ["tasks:record"] * 5 + ["tasks:record_loudly"]
        table = await first.table()
        assert len(table) == 3 and len(await first.query("tasks:cron_table")) == 3
        assert table["tick"]["lastRun"] == NOW_MS + 4 * 60_000
    finally:
        for node in nodes:
            await node.close()


async def test_a_server_runs_crons_py_and_reports_its_runner_healthy(
    start_server: StartServer, tmp_path: Path
) -> None:
    server = start_server(app(tmp_path, "every_second"))
    async with Client(server.url) as client:
        runs = client.subscribe("tasks:runs")
        async with asyncio.timeout(CLIENT):
            value = runs.latest
            while value is None or len(value) < 2:
                value = await runs.next()
        table = await client.query("tasks:cron_table")
    assert [doc["name"] for doc in table] == ["heartbeat"]
    assert table[0]["lastRun"] >= table[0]["nextRun"] - 1000
    health = httpx.get(f"{server.url}/health", timeout=REPLY)
    assert health.status_code == 200, health.text
