"""The official clients across two livesync nodes on one PostgreSQL
database: a write through one node reaches subscribers of the other."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from convex import ConvexClient

from tests.compat.test_python_client import bodies, next_matching
from tests.helpers.node import run_node_script
from tests.helpers.postgres import fresh_database
from tests.helpers.server import LivesyncServer, StartServer

pytestmark = [pytest.mark.compat, pytest.mark.timeout(90)]

FUNCTIONS_DIR = Path(__file__).resolve().parent / "functions"
JS_DIR = Path(__file__).resolve().parent / "js"


@pytest.fixture
async def nodes(start_server: StartServer) -> AsyncIterator[list[LivesyncServer]]:
    async with fresh_database() as url:
        yield [start_server(FUNCTIONS_DIR, database_url=url) for _ in range(2)]


@pytest.mark.usefixtures("node_ready")
def test_js_clients_on_two_nodes_see_each_others_writes(nodes: list[LivesyncServer]) -> None:
    result = run_node_script(JS_DIR / "two_nodes.mjs", [nodes[0].url, nodes[1].url])
    assert result.named("passed"), str(result)
    for name in ("a", "b"):
        assert sorted(result.one(name)["bodies"]) == ["from a", "from b"]


async def test_a_python_subscriber_on_one_node_sees_a_write_on_the_other(
    nodes: list[LivesyncServer],
) -> None:
    reader, writer = ConvexClient(nodes[0].url), ConvexClient(nodes[1].url)
    subscription = reader.subscribe("notes:list")
    assert await next_matching(subscription, lambda rows: rows == []) == []
    writer.mutation("notes:add", {"body": "across"})
    rows = await next_matching(subscription, lambda rows: bodies(rows) == ["across"])
    assert bodies(rows) == ["across"]
