"""PostgreSQL out of reach (cut off by a proxy, or crashed and restarted):
nodes say so on /health, hold writes back with a retryable close instead of
failing them, and recover by themselves."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx
import pytest

from client import Client
from tests.cluster.test_bank import run_bank
from tests.helpers.postgres import fresh_database
from tests.helpers.postgres_server import PostgresServer, private_postgres
from tests.helpers.server import LivesyncServer, StartServer
from tests.helpers.tcp_proxy import TcpProxy
from tests.helpers.timeouts import CLIENT, REPLY

NOTES = Path(__file__).parents[1] / "server" / "sync" / "engine_functions"
BANK = Path(__file__).parent / "bank_functions"


@pytest.fixture
async def proxied_database() -> AsyncIterator[tuple[str, TcpProxy]]:
    async with fresh_database() as url:
        parts = urlsplit(url)
        proxy = TcpProxy(parts.hostname or "127.0.0.1", parts.port or 5432)
        await proxy.start()
        netloc = parts.netloc.rsplit("@", 1)
        host = f"127.0.0.1:{proxy.port}"
        through = urlunsplit(
            parts._replace(netloc=f"{netloc[0]}@{host}" if len(netloc) == 2 else host)
        )
        try:
            yield through, proxy
        finally:
            await proxy.stop()


async def health(node: LivesyncServer, status: int) -> dict[str, Any]:
    """Wait until the node's /health answers `status`; its body."""
    async with httpx.AsyncClient() as http, asyncio.timeout(CLIENT):
        while True:
            reply = await http.get(f"{node.url}/health", timeout=REPLY)
            if reply.status_code == status:
                body: dict[str, Any] = reply.json()
                return body
            await asyncio.sleep(0.05)  # polling the endpoint is the wait


async def until(subscription: Any, expected: Any) -> None:
    async with asyncio.timeout(CLIENT):
        while subscription.latest != expected:
            await subscription.next()


async def test_a_write_during_an_outage_waits_and_applies_once_when_it_ends(
    start_server: StartServer, proxied_database: tuple[str, TcpProxy]
) -> None:
    url, proxy = proxied_database
    # Started from a thread: the proxy they reach the database through runs
    # on this test's loop, which a blocking start would stall.
    a = await asyncio.to_thread(start_server, NOTES, database_url=url)
    b = await asyncio.to_thread(start_server, NOTES, database_url=url)
    async with Client(a.url) as on_a, Client(b.url) as on_b:
        watching = on_a.subscribe("notes:by_topic", {"topic": "t"})
        await until(watching, [])
        proxy.cut()
        down = await health(b, 503)
        assert "database" in down["dead_tasks"]
        writing = asyncio.create_task(on_b.mutation("notes:add", {"topic": "t", "text": "held"}))
        done, _ = await asyncio.wait({writing}, timeout=0.5)
        assert not done  # held back, not failed
        proxy.restore()
        await asyncio.wait_for(writing, CLIENT)
        await health(b, 200)
        await until(watching, ["held"])
        assert await on_b.query("notes:by_topic", {"topic": "t"}) == ["held"]


@pytest.fixture
def own_postgres() -> Iterator[PostgresServer]:
    with private_postgres() as server:
        yield server


async def test_the_bank_total_holds_through_a_node_kill_and_a_database_crash(
    start_server: StartServer, own_postgres: PostgresServer
) -> None:
    nodes = [start_server(BANK, database_url=own_postgres.url) for _ in range(2)]

    async def chaos() -> None:
        async with Client(nodes[1].url) as probe:
            recorded = probe.subscribe("bank:transfer_ids")
            async with asyncio.timeout(CLIENT):
                while len(await recorded.next()) < 20:
                    pass
        nodes[0].kill()  # SIGKILL, mid-whatever
        await asyncio.to_thread(nodes[0].start)
        # Then PostgreSQL itself stops without a shutdown checkpoint, as a
        # crashed server does, and comes back replaying its WAL: every
        # commit it acknowledged must be there.
        await asyncio.to_thread(own_postgres.stop, "immediate")
        await health(nodes[1], 503)
        await asyncio.to_thread(own_postgres.start)
        for node in nodes:
            await health(node, 200)

    await run_bank([n.url for n in nodes], writers=6, per_writer=60, chaos=chaos)
