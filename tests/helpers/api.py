"""The HTTP function API as a test calls it: `POST /api/<kind>` with a path
and its arguments."""

from __future__ import annotations

from typing import Any

import httpx

from tests.helpers.timeouts import REPLY

__all__ = ["call", "reply"]


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
