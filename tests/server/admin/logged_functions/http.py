"""One route, for the function log to record an HTTP action."""

from __future__ import annotations

from typing import Any

from server import http_action, http_router

__all__ = ["http"]


@http_action
async def ping(ctx: Any, request: Any) -> Any:
    print("pinged")
    return {"pong": True}


http = http_router()
http.route(path="/ping", method="POST", handler=ping)
