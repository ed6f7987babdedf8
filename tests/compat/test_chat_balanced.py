"""The chat example (examples/chat/functions) through HAProxy over two livesync
nodes on one PostgreSQL database, with the official PyPI and npm clients.

The clients know only the balancer's URL; round robin puts their sockets on
different nodes (read from each node's /metrics, not assumed). Tokens come
from one standalone `livesync dev-issuer` both nodes trust, as they would
trust Clerk (tests/helpers/balanced.py).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from convex import ConvexClient

from tests.compat.test_python_client import bodies, next_matching
from tests.helpers.balanced import BalancedNodes, balanced_nodes, open_connections
from tests.helpers.node_dialog import run_node_dialog
from tests.helpers.server import REPO_ROOT, StartServer

pytestmark = [pytest.mark.compat, pytest.mark.timeout(90)]

CHAT_FUNCTIONS = REPO_ROOT / "examples" / "chat" / "functions"
JS_DIR = Path(__file__).resolve().parent / "js"


@pytest.fixture
async def cluster(start_server: StartServer, tmp_path: Path) -> AsyncIterator[BalancedNodes]:
    async with balanced_nodes(start_server, CHAT_FUNCTIONS, tmp_path) as running:
        yield running


def _signed_in(cluster: BalancedNodes, name: str) -> ConvexClient:
    client = ConvexClient(cluster.url)
    client.set_auth(cluster.issuer.token(f"user_{name}", email=f"{name}@example.com", ttl=600))
    return client


async def test_a_python_subscriber_sees_a_message_sent_through_the_other_node(
    cluster: BalancedNodes,
) -> None:
    alice, bob = _signed_in(cluster, "alice"), _signed_in(cluster, "bob")
    channel = alice.subscribe("messages:list", {"channel": "general"})
    # Its first result comes after the token is checked, so alice is authenticated.
    assert await next_matching(channel, lambda rows: rows == []) == []
    # Bob's first call opens his socket: the balancer's next node.
    assert bob.query("messages:getForCurrentUser") == []
    assert [open_connections(node) for node in cluster.nodes] == [1.0, 1.0]

    bob.mutation("messages:send", {"channel": "general", "body": "hello from bob"})
    rows = await next_matching(channel, lambda rows: bodies(rows) == ["hello from bob"])
    assert rows[0]["author"] == "bob@example.com"
    alice.mutation("messages:send", {"channel": "general", "body": "hi from alice"})
    rows = await next_matching(channel, lambda rows: len(rows) == 2)
    assert [(row["body"], row["author"]) for row in rows] == [
        ("hi from alice", "alice@example.com"),
        ("hello from bob", "bob@example.com"),
    ]


@pytest.mark.usefixtures("node_ready")
def test_js_clients_on_two_nodes_chat_live_through_the_balancer(cluster: BalancedNodes) -> None:
    per_node: list[list[float]] = []

    def read_nodes(_event: dict[str, Any]) -> str:
        per_node.append([open_connections(node) for node in cluster.nodes])
        return "read"

    result = run_node_dialog(
        JS_DIR / "chat_balanced.mjs",
        [cluster.url, cluster.issuer.url],
        wait_for="connected",
        act=read_nodes,
    )
    assert result.named("passed"), str(result)
    assert per_node == [[1.0, 1.0]]
    seen = result.one("seen")
    both = [["from alice", "alice@example.com"], ["from bob", "bob@example.com"]]
    assert sorted(seen["alice"]) == sorted(seen["bob"]) == both
    assert seen["bobMine"] == [["from bob", "bob@example.com"]]
