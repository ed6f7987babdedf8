"""Test support shared across the suite: a real server subprocess and a Node script runner."""

from __future__ import annotations

from tests.helpers.node import NodeResult, NodeScriptError, node_binary, run_node_script
from tests.helpers.server import LivesyncServer, ServerStartError, StartServer

__all__ = [
    "LivesyncServer",
    "NodeResult",
    "NodeScriptError",
    "ServerStartError",
    "StartServer",
    "node_binary",
    "run_node_script",
]
