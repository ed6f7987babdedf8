"""Nodes behind HAProxy: a client whose node dies reconnects to another one.

These nodes each have their own SQLite file (one node per file), so only
what does not depend on shared data is asserted here; shared-store clusters
are tested on PostgreSQL.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from client import Client
from tests.helpers.load_balancer import LoadBalancer
from tests.helpers.server import StartServer
from tests.helpers.timeouts import CLIENT

FUNCTIONS = Path(__file__).parents[1] / "server" / "sync" / "engine_functions"


async def until(subscription: Any, expected: Any) -> None:
    async with asyncio.timeout(CLIENT):
        while subscription.latest != expected:
            await subscription.next()


async def test_clients_of_a_killed_node_resume_on_the_other_through_the_balancer(
    start_server: StartServer, tmp_path: Path
) -> None:
    nodes = [start_server(FUNCTIONS) for _ in range(2)]
    balancer = LoadBalancer(tmp_path / "haproxy", [node.port for node in nodes])
    balancer.start()
    try:
        async with Client(balancer.url) as first, Client(balancer.url) as second:
            subscriptions = [c.subscribe("notes:by_topic", {"topic": "t"}) for c in (first, second)]
            for subscription in subscriptions:
                await until(subscription, [])
            nodes[0].kill()  # one of the two clients was on it (round robin)
            await first.mutation("notes:add", {"topic": "t", "text": "a"})
            await second.mutation("notes:add", {"topic": "t", "text": "b"})
            # Both now live on the surviving node, subscriptions re-established.
            for subscription in subscriptions:
                await until(subscription, ["a", "b"])
    finally:
        balancer.stop()
