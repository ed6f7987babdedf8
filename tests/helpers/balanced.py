"""Livesync nodes on one fresh PostgreSQL database behind HAProxy, all trusting
one standalone dev issuer: the shape of a deployment that signs in with Clerk.

Each node's own `livesync dev` issuer would not do here: it names itself after
the node's port (`iss` = `http://127.0.0.1:<node port>/dev-issuer`) and trusts
only that, so a token minted by whichever node the balancer picked is refused
by the other node. One `livesync dev-issuer` process that every node trusts
through `[[auth.providers]]` in its config.toml is what a real deployment does
with Clerk, and it keeps issuing tokens while any node is down.

Skips (fails under CI) without HAProxy or PostgreSQL, before starting anything.
"""

from __future__ import annotations

import re
import urllib.request
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

from tests.helpers.issuer import CommandIssuer, running_issuer_command
from tests.helpers.load_balancer import LoadBalancer, require_haproxy
from tests.helpers.postgres import fresh_database, server_url
from tests.helpers.server import LivesyncServer, StartServer
from tests.helpers.timeouts import REPLY

__all__ = ["BalancedNodes", "balanced_nodes", "open_connections"]


@dataclass(frozen=True, slots=True)
class BalancedNodes:
    issuer: CommandIssuer
    nodes: list[LivesyncServer]
    balancer: LoadBalancer

    @property
    def url(self) -> str:
        """The one URL clients are given: the balancer's."""
        return self.balancer.url


def open_connections(node: LivesyncServer, state: str = "authenticated") -> float:
    """`node`'s open sync connections in auth `state`, from its own /metrics
    (asked directly, so the question does not move the balancer's round robin)."""
    with urllib.request.urlopen(f"{node.url}/metrics", timeout=REPLY) as response:
        text = response.read().decode()
    found = re.search(rf'^livesync_connections\{{state="{state}"\}} (\S+)$', text, re.MULTILINE)
    return float(found.group(1)) if found else 0.0


@asynccontextmanager
async def balanced_nodes(
    start_server: StartServer, functions_dir: Path, workdir: Path, *, count: int = 2
) -> AsyncIterator[BalancedNodes]:
    """Start the issuer, `count` nodes on one fresh database, and HAProxy over them."""
    require_haproxy()
    server_url()
    with running_issuer_command(workdir / "issuer-keys") as issuer:
        async with fresh_database() as database_url:
            nodes: list[LivesyncServer] = []
            balancer: LoadBalancer | None = None
            try:
                for _ in range(count):
                    nodes.append(
                        start_server(
                            functions_dir,
                            database_url=database_url,
                            config_extra=issuer.provider_config(),
                        )
                    )
                balancer = LoadBalancer(workdir / "haproxy", [node.port for node in nodes])
                balancer.start()
                yield BalancedNodes(issuer, nodes, balancer)
            finally:
                if balancer is not None:
                    balancer.stop()
                # Before the database is dropped under them.
                for node in nodes:
                    node.stop()
