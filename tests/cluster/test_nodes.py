"""Two livesync nodes on one PostgreSQL database, behind HAProxy: a commit
on either node reaches the subscribers of both, in one global order."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from client import Client
from tests.cluster.test_bank import run_bank
from tests.helpers.load_balancer import LoadBalancer
from tests.helpers.postgres import fresh_database
from tests.helpers.server import LivesyncServer, StartServer
from tests.helpers.timeouts import CLIENT

NOTES = Path(__file__).parents[1] / "server" / "sync" / "engine_functions"
BANK = Path(__file__).parent / "bank_functions"


@pytest.fixture
async def database() -> AsyncIterator[str]:
    async with fresh_database() as url:
        yield url


async def until(subscription: Any, expected: Any) -> None:
    async with asyncio.timeout(CLIENT):
        while subscription.latest != expected:
            await subscription.next()


def two_nodes(start_server: StartServer, functions: Path, url: str) -> list[LivesyncServer]:
    return [start_server(functions, database_url=url) for _ in range(2)]


async def test_a_mutation_on_one_node_reaches_subscribers_on_the_other(
    start_server: StartServer, database: str
) -> None:
    a, b = two_nodes(start_server, NOTES, database)
    async with Client(a.url) as on_a, Client(b.url) as on_b:
        watching = on_b.subscribe("notes:by_topic", {"topic": "t"})
        await until(watching, [])
        await on_a.mutation("notes:add", {"topic": "t", "text": "from a"})
        await until(watching, ["from a"])
        mine = on_a.subscribe("notes:by_topic", {"topic": "t"})
        await until(mine, ["from a"])
        await on_b.mutation("notes:add", {"topic": "t", "text": "from b"})
        for subscription in (watching, mine):
            await until(subscription, ["from a", "from b"])


async def test_the_bank_total_holds_on_every_node_through_the_balancer(
    start_server: StartServer, database: str, tmp_path: Path
) -> None:
    nodes = two_nodes(start_server, BANK, database)
    balancer = LoadBalancer(tmp_path / "haproxy", [node.port for node in nodes])
    balancer.start()
    try:
        # Writers through the balancer, watchers on each node directly.
        await run_bank([balancer.url, nodes[0].url, nodes[1].url], writers=6, per_writer=30)
    finally:
        balancer.stop()


async def test_the_bank_survives_a_node_killed_mid_run(
    start_server: StartServer, database: str, tmp_path: Path
) -> None:
    nodes = two_nodes(start_server, BANK, database)
    balancer = LoadBalancer(tmp_path / "haproxy", [node.port for node in nodes])
    balancer.start()

    async def kill_and_restart() -> None:
        # Once transfers flow: SIGKILL mid-whatever, then the node comes back.
        async with Client(nodes[1].url) as probe:
            totals = probe.subscribe("bank:transfer_ids")
            async with asyncio.timeout(CLIENT):
                while len(await totals.next()) < 20:
                    pass
        nodes[0].kill()
        await asyncio.to_thread(nodes[0].start)

    try:
        await run_bank(
            [balancer.url, nodes[0].url, nodes[1].url],
            writers=6,
            per_writer=60,
            chaos=kill_and_restart,
        )
    finally:
        balancer.stop()
