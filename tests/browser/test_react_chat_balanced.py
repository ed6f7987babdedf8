"""The react-chat example in headless Chromium against two livesync nodes
behind HAProxy, sharing one PostgreSQL database, with the app given only the
balancer's URL.

Sign-in is a standalone `livesync dev-issuer` that both nodes trust through
their config.toml, as a deployment trusts Clerk (tests/helpers/balanced.py
says why a node's own `/dev-issuer` cannot serve a cluster). Midway the test
kills one node; the page that was on it reconnects through the balancer.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from tests.browser.conftest import APP_DIR, CHAT_FUNCTIONS
from tests.helpers.balanced import BalancedNodes, balanced_nodes, open_connections
from tests.helpers.node import NodeScriptError
from tests.helpers.node_dialog import run_node_dialog
from tests.helpers.server import StartServer
from tests.helpers.timeouts import NODE_SCENARIO

SCRIPT = APP_DIR / "e2e" / "chat.mjs"


@pytest.fixture
async def cluster(start_server: StartServer, tmp_path: Path) -> AsyncIterator[BalancedNodes]:
    async with balanced_nodes(start_server, CHAT_FUNCTIONS, tmp_path) as running:
        yield running


@pytest.mark.usefixtures("browser_ready")
def test_two_users_chat_live_across_nodes_and_survive_a_node_killed_midway(
    app_url: str, cluster: BalancedNodes
) -> None:
    per_node: list[list[float]] = []

    def kill_a_node(_event: dict[str, Any]) -> str:
        # Asserted after the script ends: failing here would leave it waiting.
        per_node.append([open_connections(node) for node in cluster.nodes])
        cluster.nodes[0].kill()
        return "killed"

    try:
        result = run_node_dialog(
            SCRIPT,
            ["cluster", app_url, cluster.url, cluster.issuer.url],
            wait_for="both_live",
            act=kill_a_node,
            timeout=NODE_SCENARIO,
        )
    except NodeScriptError as error:
        raise AssertionError(
            f"{error}\nhaproxy:\n{cluster.balancer.log_text()}\n"
            f"issuer:\n{cluster.issuer.log_text()}"
        ) from None
    assert result.returncode == 0, str(result)
    assert not result.named("page_error"), str(result)

    # Round robin put one page's socket on each node, so the kill cut off exactly one page.
    assert per_node == [[1.0, 1.0]]
    live = result.one("both_live")
    before = ["hi from bob", "second from alice", "hello from alice"]
    assert live["alice_channel"] == live["bob_channel"] == before

    after = result.one("after_kill")
    # Each page sent after the kill; both pages show both messages (in either
    # order: they were sent at once, one of them after a reconnect).
    for channel in (after["alice_channel"], after["bob_channel"]):
        assert sorted(channel[:2]) == ["alice after the kill", "bob after the kill"]
        assert channel[2:] == before
    assert after["alice_mine"] == ["hello from alice", "second from alice", "alice after the kill"]
    assert after["bob_mine"] == ["hi from bob", "bob after the kill"]

    # Every socket went through the balancer; exactly one page opened more than one.
    sockets = {name: after[f"{name}_sockets"] for name in ("alice", "bob")}
    ws_prefix = cluster.url.replace("http://", "ws://", 1) + "/"
    assert all(url.startswith(ws_prefix) for urls in sockets.values() for url in urls), sockets
    assert sorted(len(urls) > 1 for urls in sockets.values()) == [False, True], sockets
    # Neither page left Authenticated (no AuthLoading) while its node was replaced.
    assert after["alice_states"] == after["bob_states"] == ["authenticated"], after
