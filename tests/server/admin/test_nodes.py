"""`_nodes`: each server keeps its own document fresh while it runs, says
who it is and how many connections it holds in each auth state, takes it
out when it stops, and the others drop a node that died; a subscriber sees
the list change live. On SQLite one node, on PostgreSQL every node."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from convex import ConvexClient

from tests.helpers.api import admin_client
from tests.helpers.postgres import fresh_database
from tests.helpers.server import StartServer
from tests.helpers.timeouts import CLIENT

FUNCTIONS = Path(__file__).parent / "functions"
FAST = "node_refresh = 0.2\n"  # seconds: a killed node is gone after 0.6 s


def until(updates: Iterator[Any], wanted: Any) -> list[dict[str, Any]]:
    """The first list of nodes from a subscription that `wanted` accepts,
    within CLIENT seconds. Every refresh (0.2 s) moves `lastSeen`, so the
    subscription never waits long for its next result."""
    deadline = time.monotonic() + CLIENT
    seen = []
    for nodes in updates:
        seen.append(nodes)
        if wanted(nodes):
            return list(nodes)
        if time.monotonic() > deadline:
            break
    raise AssertionError(f"no list of nodes as wanted; saw {seen[-3:]}")


def test_a_node_lists_itself_with_its_connections(start_server: StartServer) -> None:
    server = start_server(FUNCTIONS, server_extra=FAST)
    admin = admin_client(server)
    updates = admin.subscribe("nodes:listed")
    (me,) = until(updates, lambda nodes: len(nodes) == 1)
    assert me["url"] == server.url and me["backend"] == "sqlite"
    assert me["version"] and me["pid"] == server.pid
    visitor = ConvexClient(server.url)  # one more connection, signed out
    with pytest.raises(Exception, match="Could not find public function"):
        visitor.query("nodes:listed")  # connects it; internal, so refused
    counted = until(updates, lambda nodes: nodes[0]["connections"]["unauthenticated"] >= 1)
    assert set(counted[0]["connections"]) == {"loading", "authenticated", "unauthenticated"}
    assert counted[0]["connections"]["authenticated"] >= 1  # the admin's own


async def test_nodes_see_each_other_and_a_killed_node_goes(start_server: StartServer) -> None:
    shared = FAST + 'admin_key = "one-key-for-every-node"\n'
    async with fresh_database() as url:
        a, b, c = (start_server(FUNCTIONS, database_url=url, server_extra=shared) for _ in range(3))
        try:
            admin = ConvexClient(a.url)
            admin.set_admin_auth("one-key-for-every-node")
            updates = admin.subscribe("nodes:listed")
            nodes = until(updates, lambda nodes: len(nodes) == 3)
            assert {node["url"] for node in nodes} == {a.url, b.url, c.url}
            assert {node["backend"] for node in nodes} == {"postgresql"}
            b.kill()  # no goodbye: the others drop it once it is stale
            nodes = until(updates, lambda nodes: len(nodes) == 2)
            assert {node["url"] for node in nodes} == {a.url, c.url}
            c.stop()  # a clean stop takes its document out itself
            nodes = until(updates, lambda nodes: len(nodes) == 1)
            assert nodes[0]["url"] == a.url
        finally:
            for node in (a, b, c):
                node.stop()
