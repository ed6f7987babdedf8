"""The example chat app (examples/chat/functions) driven by the official Python client."""

from __future__ import annotations

from pathlib import Path

import pytest
from convex import ConvexClient, ConvexError

from tests.compat.test_python_client import next_matching
from tests.helpers.server import REPO_ROOT, StartServer

pytestmark = [pytest.mark.compat, pytest.mark.timeout(90)]

CHAT_FUNCTIONS = REPO_ROOT / "examples" / "chat" / "functions"


@pytest.fixture
def client(start_server: StartServer) -> ConvexClient:
    return ConvexClient(start_server(Path(CHAT_FUNCTIONS)).url)


def test_channels_are_created_once_and_listed(client: ConvexClient) -> None:
    channel_id = client.mutation("channels:create", {"name": "general"})
    with pytest.raises(ConvexError) as raised:
        client.mutation("channels:create", {"name": "general"})
    assert raised.value.data == {"code": "channel_exists", "name": "general"}
    assert [(c["_id"], c["name"]) for c in client.query("channels:list")] == [
        (channel_id, "general")
    ]


def test_list_returns_a_channels_messages_newest_first(client: ConvexClient) -> None:
    for body in ("first", "second", "third"):
        client.mutation("messages:send", {"channel": "general", "body": body})
    client.mutation("messages:send", {"channel": "random", "body": "elsewhere"})
    rows = client.query("messages:list", {"channel": "general"})
    assert [row["body"] for row in rows] == ["third", "second", "first"]
    assert all(row["author"] is None for row in rows)


def test_signed_out_caller_cannot_read_own_messages(client: ConvexClient) -> None:
    with pytest.raises(ConvexError) as raised:
        client.query("messages:getForCurrentUser")
    assert raised.value.data == "Not authenticated"


def test_list_by_author_reads_only_that_authors_messages(client: ConvexClient) -> None:
    client.mutation("messages:send", {"channel": "general", "body": "anonymous"})
    assert client.query("messages:listByAuthor", {"author": "ada@example.com"}) == []


async def test_a_vanishing_message_is_shown_then_deleted_by_the_scheduler(
    client: ConvexClient,
) -> None:
    channel = client.subscribe("messages:list", {"channel": "general"})
    client.mutation("messages:send", {"channel": "general", "body": "stays"})
    client.mutation("messages:send", {"channel": "general", "body": "goes", "vanishAfter": 0.3})
    shown = await next_matching(channel, lambda rows: len(rows) == 2)
    assert [row["body"] for row in shown] == ["goes", "stays"]
    assert "expiresAt" in shown[0] and "expiresAt" not in shown[1]
    left = await next_matching(channel, lambda rows: len(rows) == 1)
    assert [row["body"] for row in left] == ["stays"]
    # The deletion is internal: no client may call it.
    with pytest.raises(Exception, match="Could not find public function"):
        client.mutation("messages:vanish", {"id": shown[1]["_id"]})
