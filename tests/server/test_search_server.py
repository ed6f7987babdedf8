"""The chat example's `messages:search` on a real server, on both backends:
over HTTP (POST /api/query), and live with the Python client: a subscriber
sees a new matching message arrive, and messages elsewhere leave it alone."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from client import Client
from tests.helpers.postgres import fresh_database
from tests.helpers.server import REPO_ROOT, LivesyncServer, StartServer
from tests.helpers.timeouts import CLIENT, REPLY

CHAT = REPO_ROOT / "examples" / "chat" / "functions"


@pytest.fixture(params=["sqlite", "postgres"])
async def server(request: pytest.FixtureRequest, start_server: StartServer) -> AsyncIterator[Any]:
    if request.param == "sqlite":
        yield start_server(CHAT)
        return
    async with fresh_database() as url:
        server = start_server(CHAT, database_url=url)
        yield server
        server.stop()


def call(server: LivesyncServer, kind: str, path: str, args: dict[str, Any]) -> Any:
    reply = httpx.post(f"{server.url}/api/{kind}", json={"path": path, "args": args}, timeout=REPLY)
    assert reply.status_code in (200, 400, 500), reply.text
    return reply.json()


async def test_search_over_http(server: LivesyncServer) -> None:
    for channel, body in [
        ("general", "Deploy the server tonight"),
        ("general", "the deployment went fine"),
        ("general", "lunch?"),
        ("random", "deploy memes"),
    ]:
        sent = call(server, "mutation", "messages:send", {"channel": channel, "body": body})
        assert sent["status"] == "success"
    found = call(server, "query", "messages:search", {"channel": "general", "text": "deploy"})
    assert found["status"] == "success"
    assert [m["body"] for m in found["value"]] == [
        "Deploy the server tonight",
        "the deployment went fine",
    ]
    too_many = " ".join(f"word{n}" for n in range(17))
    refused = call(server, "query", "messages:search", {"channel": "general", "text": too_many})
    assert refused["status"] == "error"
    assert "Too many terms in a search query: 17 (limit: 16 words)" in refused["errorMessage"]


async def test_a_subscriber_sees_a_new_matching_message_arrive(server: LivesyncServer) -> None:
    async with Client(server.url) as watcher, Client(server.url) as sender:
        await sender.mutation("messages:send", {"channel": "general", "body": "hello world"})
        search = watcher.subscribe("messages:search", {"channel": "general", "text": "wor"})
        async with asyncio.timeout(CLIENT):
            assert [m["body"] for m in await search.next()] == ["hello world"]
        # Elsewhere (another channel) or not matching: no new result.
        await sender.mutation("messages:send", {"channel": "random", "body": "world news"})
        await sender.mutation("messages:send", {"channel": "general", "body": "unrelated"})
        await sender.mutation("messages:send", {"channel": "general", "body": "a wonderful world"})
        async with asyncio.timeout(CLIENT):
            got = await search.next()
        assert sorted(m["body"] for m in got) == ["a wonderful world", "hello world"]
        # And the next one.
        await sender.mutation("messages:send", {"channel": "general", "body": "worlds apart"})
        async with asyncio.timeout(CLIENT):
            got = await search.next()
        assert len(got) == 3
