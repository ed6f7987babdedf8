"""The scheduler on a real store of each backend: jobs written atomically
with the mutation that schedules them, run once (mutations) or at most once
(actions), canceled, limited, and read back from `_scheduled_functions`.

The engine and a `JobExecutor` run in-process; every wait is on a commit
being published (`CommitWaiter.until`), with a timeout.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from server.functions.action_threads import GRACE
from server.functions.registry import FunctionRegistry
from server.functions.runner import FunctionRunner
from server.metrics import Metrics
from server.scheduler.executor import JobExecutor
from server.store.base import Store
from server.store.catalog import SCHEDULED_FUNCTIONS
from server.sync.engine import Engine
from tests.helpers.commits import CommitWaiter
from tests.helpers.stores import StoreBackend

FUNCTIONS = Path(__file__).parent / "functions"
ACTION_TIMEOUT = 5.0


class Node:
    """An engine and its job executor on one store."""

    def __init__(self, store: Store) -> None:
        registry = FunctionRegistry.load(FUNCTIONS)
        self.store = store
        self.engine = Engine(store, FunctionRunner(registry, store), Metrics())
        self.jobs = JobExecutor(self.engine, self.engine.metrics, action_timeout=ACTION_TIMEOUT)
        self.until = CommitWaiter(self.engine).until

    async def mutate(self, path: str, args: dict[str, Any]) -> Any:
        committed = await self.engine.mutate(path, args, None)
        assert committed.outcome.ok, committed.outcome.error_message
        return committed.outcome.value

    async def failure(self, path: str, args: dict[str, Any]) -> str:
        committed = await self.engine.mutate(path, args, None)
        assert not committed.outcome.ok and committed.ts is None
        return committed.outcome.error_message or ""

    async def query(self, path: str, args: dict[str, Any] | None = None) -> Any:
        outcome = await self.engine.run_query(path, args or {}, None, self.engine.published_ts)
        assert outcome.ok, outcome.error_message
        return outcome.value

    async def state(self, job_id: str, kind: str) -> dict[str, Any]:
        async def reached() -> Any:
            job = await self.query("jobs:job", {"id": job_id})
            return job if job is not None and job["state"]["kind"] == kind else None

        job: dict[str, Any] = await self.until(reached)
        return job

    async def close(self) -> None:
        await self.jobs.close()
        await self.engine.close()


@pytest.fixture
async def node(store_backend: StoreBackend) -> AsyncIterator[Node]:
    store = store_backend.make()
    await store.open(FunctionRegistry.load(FUNCTIONS).index_defs())
    node = Node(store)
    node.jobs.start()
    yield node
    await node.close()
    await store.close()


async def test_a_scheduled_mutation_runs_once_and_its_job_records_it(node: Node) -> None:
    before = time.time() * 1000
    job_id = await node.mutate("jobs:later", {"text": "a", "delay": 0.0})
    job = await node.state(job_id, "success")
    assert await node.query("jobs:notes") == ["a"]
    assert job["name"] == "jobs:add_note" and job["args"] == [{"text": "a"}]
    assert before <= job["scheduledTime"] <= job["completedTime"] <= time.time() * 1000
    assert [j["_id"] for j in await node.query("jobs:jobs")] == [job_id]


async def test_nothing_is_scheduled_when_the_scheduling_mutation_fails(node: Node) -> None:
    message = await node.failure("jobs:later_then_fail", {"text": "lost"})
    assert "the mutation failed after scheduling" in message
    # A later job runs; the one scheduled by the failed mutation never existed.
    job_id = await node.mutate("jobs:later", {"text": "kept", "delay": 0.0})
    await node.state(job_id, "success")
    assert await node.query("jobs:notes") == ["kept"]
    assert len(await node.query("jobs:jobs")) == 1


async def test_a_failing_scheduled_mutation_keeps_no_writes_and_is_marked_failed(
    node: Node,
) -> None:
    job_id = await node.mutate("jobs:schedule", {"fn": "jobs:refuse", "delay": 0.0})
    job = await node.state(job_id, "failed")
    assert "refused on purpose" in job["state"]["error"]
    assert await node.query("jobs:notes") == []


async def test_a_scheduled_action_runs_and_reaches_internal_functions(node: Node) -> None:
    committed = await node.engine.run_action("jobs:from_action", {"text": "hi"}, None)
    assert committed.ok, committed.error_message
    job = await node.state(committed.value, "success")
    assert job["name"] == "jobs:shout"
    assert await node.query("jobs:notes") == ["HI"]


async def test_a_failing_scheduled_action_is_marked_failed(node: Node) -> None:
    job_id = await node.mutate("jobs:schedule", {"fn": "jobs:crash", "delay": 0.0})
    job = await node.state(job_id, "failed")
    assert job["state"]["error"] == "Server Error"  # details stay in the server log


async def test_a_canceled_job_never_runs(node: Node) -> None:
    doomed = await node.mutate("jobs:later", {"text": "doomed", "delay": 0.2})
    await node.mutate("jobs:cancel", {"id": doomed})
    job = await node.state(doomed, "canceled")
    assert "completedTime" in job
    # A job due after the canceled one runs, and the canceled one did not.
    later = await node.mutate("jobs:later", {"text": "later", "delay": 0.4})
    await node.state(later, "success")
    assert await node.query("jobs:notes") == ["later"]
    # Canceling a finished job leaves it as it is.
    await node.mutate("jobs:cancel", {"id": later})
    assert (await node.query("jobs:job", {"id": later}))["state"]["kind"] == "success"


async def test_run_at_a_past_time_runs_at_once(node: Node) -> None:
    job_id = await node.mutate("jobs:at", {"at": time.time() - 3600, "text": "late"})
    await node.state(job_id, "success")
    assert await node.query("jobs:notes") == ["late"]


async def test_what_cannot_be_scheduled_is_refused_with_a_message(node: Node) -> None:
    assert "only mutations and actions can be scheduled" in await node.failure(
        "jobs:schedule", {"fn": "jobs:notes", "delay": 0.0}
    )
    assert "Could not find public function for 'jobs:absent'" in await node.failure(
        "jobs:schedule", {"fn": "jobs:absent", "delay": 0.0}
    )
    assert "Too many functions scheduled by one function execution" in await node.failure(
        "jobs:many", {"count": 1001.0}
    )
    assert await node.query("jobs:jobs") == []
    refused = await node.engine.run_query("jobs:schedule_from_query", {}, None, 0)
    assert "ctx.scheduler is available in mutations and actions" in str(refused.error_message)
    ids = await node.mutate("jobs:many", {"count": 5.0})
    for job_id in ids:
        await node.state(job_id, "success")
    assert sorted(await node.query("jobs:notes")) == [f"n{i}" for i in range(5)]


async def test_app_code_reads_jobs_but_cannot_write_them(node: Node) -> None:
    job_id = await node.mutate("jobs:later", {"text": "x", "delay": 0.0})
    message = await node.failure("jobs:tamper", {"id": job_id})
    assert f"{SCHEDULED_FUNCTIONS} is a system table" in message
    await node.state(job_id, "success")


async def test_an_action_orphaned_by_a_dead_process_is_failed_not_rerun(
    store_backend: StoreBackend,
) -> None:
    # On a store only this process opens, any job left inProgress belongs to
    # a dead process; on a shared one another node may still be running it,
    # so only one older than the longest an action may run is an orphan.
    started = time.time() * 1000 - 1
    if store_backend.name == "postgres":
        started -= (ACTION_TIMEOUT + GRACE + 31) * 1000
    store = store_backend.make()
    await store.open([])

    async def orphan(tx: Any) -> str:
        job = {
            "name": "jobs:shout",
            "args": [{"text": "twice?"}],
            "scheduledTime": 0.0,
            "state": {"kind": "inProgress", "startedTime": started},
        }
        job_id: str = await tx.insert(SCHEDULED_FUNCTIONS, job, system=True)
        return job_id

    job_id, _ = await store.write(orphan)
    node = Node(store)
    node.jobs.start()
    try:
        job = await node.state(job_id, "failed")
        assert "not retried" in job["state"]["error"]
        assert await node.query("jobs:notes") == []
    finally:
        await node.close()
        await store.close()


async def test_due_jobs_survive_a_restart_and_run_once(store_backend: StoreBackend) -> None:
    store = store_backend.make()
    await store.open([])
    first = Node(store)  # its executor never starts: the server "stops" first
    job_id = await first.mutate("jobs:later", {"text": "after restart", "delay": 0.0})
    await first.close()
    await store.close()

    store = store_backend.make()
    await store.open([])
    second = Node(store)
    second.jobs.start()
    try:
        await second.state(job_id, "success")
        assert await second.query("jobs:notes") == ["after restart"]
    finally:
        await second.close()
        await store.close()


async def test_a_job_whose_function_left_the_app_fails_alone(node: Node) -> None:
    async def stale(tx: Any) -> str:
        job = {
            "name": "jobs:gone",
            "args": [{}],
            "scheduledTime": 0.0,
            "state": {"kind": "pending"},
        }
        job_id: str = await tx.insert(SCHEDULED_FUNCTIONS, job, system=True)
        return job_id

    gone = await node.engine.transact(stale)
    after = await node.mutate("jobs:later", {"text": "still runs", "delay": 0.0})
    job = await node.state(gone, "failed")
    assert "Could not find public function for 'jobs:gone'" in job["state"]["error"]
    await node.state(after, "success")
    assert node.jobs.task is not None and not node.jobs.task.done()


async def test_a_job_that_cancels_itself_keeps_its_writes_and_stays_canceled(
    node: Node,
) -> None:
    job_id = await node.mutate("jobs:schedule", {"fn": "jobs:cancel_itself", "delay": 0.0})
    await node.state(job_id, "canceled")
    assert await node.query("jobs:notes") == ["ran, then canceled"]
