"""The function API as a test calls it: `POST /api/<kind>` with a path and
its arguments, and the official PyPI client holding the admin key."""

from __future__ import annotations

from typing import Any

import httpx
from convex import ConvexClient

from tests.helpers.server import LivesyncServer
from tests.helpers.timeouts import REPLY

__all__ = ["admin_client", "call", "reply"]


def admin_client(server: LivesyncServer) -> ConvexClient:
    """The official client as the administrator of `server`'s deployment."""
    client = ConvexClient(server.url)
    client.set_admin_auth(server.admin_key())
    return client


def reply(url: str, kind: str, path: str, args: dict[str, Any] | None = None) -> Any:
    """The whole JSON reply of a query, mutation, action or function call."""
    answer = httpx.post(f"{url}/api/{kind}", json={"path": path, "args": args or {}}, timeout=REPLY)
    return answer.json()


def call(
    url: str, kind: str, path: str, args: dict[str, Any] | None = None, status: str = "success"
) -> Any:
    """The reply's value, once its status is `status`."""
    body = reply(url, kind, path, args)
    assert body["status"] == status, body
    return body.get("value")
