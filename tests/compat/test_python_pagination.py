"""`paginate` through the official `convex` PyPI client (0.8.1): walking pages
with `continueCursor`, split pages named by `endCursor`, page limits, and clear
errors for bad cursors and a second paginated query in one function."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from convex import ConvexClient

from tests.helpers.server import StartServer

pytestmark = [pytest.mark.compat, pytest.mark.timeout(90)]

FUNCTIONS_DIR = Path(__file__).resolve().parent / "functions"


@pytest.fixture
def client(start_server: StartServer) -> ConvexClient:
    client = ConvexClient(start_server(FUNCTIONS_DIR).url)
    for rank in (10, 20, 30, 40, 50):
        client.mutation("pages:add", {"rank": float(rank), "label": str(rank)})
    return client


def page(client: ConvexClient, **opts: Any) -> dict[str, Any]:
    result: dict[str, Any] = client.query("pages:by_rank", {"paginationOpts": opts})
    return result


def labels(result: dict[str, Any]) -> list[str]:
    return [item["label"] for item in result["page"]]


def test_pages_walk_the_index_to_the_end(client: ConvexClient) -> None:
    seen, cursor, done = [], None, False
    while not done:
        result = page(client, numItems=2.0, cursor=cursor)
        seen.append(labels(result))
        cursor, done = result["continueCursor"], result["isDone"]
    assert seen == [["10", "20"], ["30", "40"], ["50"]]


def test_end_cursor_names_a_split_page_and_limits_are_honoured(client: ConvexClient) -> None:
    first = page(client, numItems=2.0, cursor=None)
    whole = page(client, numItems=1.0, cursor=None, endCursor="e")
    assert labels(whole) == ["10", "20", "30", "40", "50"] and whole["isDone"] is True
    upto = page(client, numItems=1.0, cursor=None, endCursor=first["continueCursor"])
    assert labels(upto) == ["10", "20"]
    cut = page(client, numItems=1.0, cursor=None, endCursor="e", maximumRowsRead=3.0)
    assert labels(cut) == ["10", "20", "30"]
    assert cut["pageStatus"] == "SplitRequired" and isinstance(cut["splitCursor"], str)
    short = page(client, numItems=5.0, cursor=None, maximumRowsRead=3.0)
    assert labels(short) == ["10", "20", "30"] and short["isDone"] is False


def test_bad_options_and_two_paginated_queries_are_clear_errors(client: ConvexClient) -> None:
    with pytest.raises(Exception, match="InvalidCursor"):
        page(client, numItems=2.0, cursor="not a cursor")
    newest = client.query("pages:newest", {"paginationOpts": {"numItems": 1.0, "cursor": None}})
    with pytest.raises(Exception, match="InvalidCursor: .*another query"):
        page(client, numItems=2.0, cursor=newest["continueCursor"])
    with pytest.raises(Exception, match="numItems must be a whole number"):
        page(client, numItems=2.5, cursor=None)
    with pytest.raises(Exception, match="only once per function execution"):
        client.query("pages:two_pages", {"paginationOpts": {"numItems": 1.0, "cursor": None}})
    with pytest.raises(Exception, match="extra field `limit`"):
        page(client, numItems=1.0, cursor=None, limit=1.0)
