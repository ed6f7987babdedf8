"""The scheduler in a real server process: a client subscribed to a job sees
its state move; jobs survive SIGKILL (mutations run exactly once, an action
caught mid-run is failed, never run twice); two nodes on one PostgreSQL run
each of 1,000 jobs due at once exactly once."""

from __future__ import annotations

import asyncio
import re
import time
from pathlib import Path
from typing import Any

import httpx

from client import Client
from tests.helpers.postgres import fresh_database
from tests.helpers.server import StartServer
from tests.helpers.timeouts import CLIENT, REPLY

FUNCTIONS = Path(__file__).parent / "functions"


async def until(subscription: Any, done: Any) -> Any:
    """The subscription's first value for which `done(value)` holds."""
    async with asyncio.timeout(CLIENT):
        value = subscription.latest
        while value is None or not done(value):
            value = await subscription.next()
        return value


async def test_a_subscriber_sees_a_jobs_state_move_from_pending_to_success(
    start_server: StartServer,
) -> None:
    server = start_server(FUNCTIONS)
    async with Client(server.url) as client:
        job_id = await client.mutation("jobs:later", {"text": "soon", "delay": 0.5})
        job = client.subscribe("jobs:job", {"id": job_id})
        seen = [(await until(job, lambda j: j is not None))["state"]["kind"]]
        while seen[-1] != "success":
            seen.append(
                (await until(job, lambda j, last=seen[-1]: j["state"]["kind"] != last))["state"][
                    "kind"
                ]
            )
        assert seen[0] == "pending" and seen[-1] == "success"
        assert await client.query("jobs:notes") == ["soon"]


async def test_jobs_survive_sigkill_mutations_once_and_an_interrupted_action_never_twice(
    start_server: StartServer,
) -> None:
    server = start_server(FUNCTIONS)
    count = 400
    async with Client(server.url) as client:
        due = time.time() + 0.5
        for part in range(0, count, 200):
            await client.mutation("jobs:batch", {"prefix": f"p{part}-", "count": 200.0, "at": due})
        action_job = await client.mutation("jobs:schedule", {"fn": "jobs:linger", "delay": 0.0})
        notes = client.subscribe("jobs:note_count")
        started = client.subscribe("jobs:starts")
        await until(started, lambda n: n == 1)  # the action is running now
        await until(notes, lambda n: n >= 50)  # and some jobs ran, not all
    server.kill()
    server.start()
    async with Client(server.url) as client:
        notes = client.subscribe("jobs:note_count")
        await until(notes, lambda n: n >= count)
        texts = await client.query("jobs:notes")
        assert len(texts) == len(set(texts)) == count  # none twice, none lost
        job = client.subscribe("jobs:job", {"id": action_job})
        failed = await until(job, lambda j: j["state"]["kind"] != "inProgress")
        assert failed["state"]["kind"] == "failed" and "not retried" in failed["state"]["error"]
        assert await client.query("jobs:starts") == 1  # never run a second time


async def test_two_nodes_run_each_of_a_thousand_due_jobs_exactly_once(
    start_server: StartServer,
) -> None:
    async with fresh_database() as url:
        nodes = [start_server(FUNCTIONS, database_url=url) for _ in range(2)]
        async with Client(nodes[0].url) as first, Client(nodes[1].url) as second:
            due = time.time() + 1.0
            await first.mutation("jobs:batch", {"prefix": "a", "count": 500.0, "at": due})
            await second.mutation("jobs:batch", {"prefix": "b", "count": 500.0, "at": due})
            await until(first.subscribe("jobs:note_count"), lambda n: n >= 1000)
            texts = await second.query("jobs:notes")
            assert len(texts) == len(set(texts)) == 1000
            jobs = await first.query("jobs:jobs")
            assert [j["state"]["kind"] for j in jobs] == ["success"] * 1000
            await until(second.subscribe("jobs:note_count"), lambda n: n == 1000)
        # Each node counts the jobs whose run it committed: 1,000 in all.
        ran = [jobs_run(node.url) for node in nodes]
        assert sum(ran) == 1000, ran
        for node in nodes:
            node.stop()


def jobs_run(url: str) -> float:
    text = httpx.get(f"{url}/metrics", timeout=REPLY).text
    found = re.search(r'^livesync_scheduled_jobs_total\{outcome="success"\} (\S+)$', text, re.M)
    return float(found.group(1)) if found else 0.0
