"""Serving the app's HTTP actions (`http.py`) over ASGI.

The body is read on the serving loop, within `[server] max_message_bytes`,
before the handler runs on an action thread: the thread gets a starlette
`Request` over the bytes already read and never touches the socket. What
the handler returns becomes a starlette `Response` (`str`: text/plain,
`bytes`: application/octet-stream, `dict`/`list`: JSON), sent back on the
serving loop. A handler that fails answers 500 with the error's message (an
`AppError` adds its data), as a failed function does to a client.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response

from protocol.errors import ValueEncodeError
from protocol.values import encode
from server.asgi import Message, Receive, Scope, Send, read_body
from server.functions.http_router import HttpRouter
from server.functions.outcome import Outcome
from server.http_api import Authenticate, Refused, bearer_identity
from server.sync.engine import Engine

__all__ = ["serve_http_action"]

log = logging.getLogger("livesync.http")


async def serve_http_action(
    scope: Scope,
    receive: Receive,
    send: Send,
    *,
    headers: dict[str, str],
    router: HttpRouter,
    engine: Engine,
    authenticate: Authenticate | None,
    max_body: int,
    extra_headers: list[tuple[bytes, bytes]],
) -> None:
    """Answer one HTTP request from the route it matches (404 for none,
    405 with `Allow` for a path served under other methods)."""
    path, method = scope["path"], scope["method"]
    route = router.lookup(method, path)
    if route is None and method == "HEAD":
        route = router.lookup("GET", path)
    if route is None:
        allowed = router.methods(path)
        if allowed:
            reply = _error(405, "MethodNotAllowed", f"{method} is not routed at {path}")
            reply.headers["allow"] = ", ".join(allowed)
        else:
            reply = _error(404, "NotFound", f"No route for {path}")
        await _send(reply, scope, send, extra_headers)
        return
    body = await read_body(receive, max_body)
    if body is None:
        reply = _error(413, "PayloadTooLarge", f"Request body over {max_body:,} bytes")
        await _send(reply, scope, send, extra_headers)
        return
    try:
        identity = await bearer_identity(headers.get("authorization"), authenticate)
    except Refused as refused:
        reply = Response(refused.reply.body, refused.reply.status, media_type="application/json")
        await _send(reply, scope, send, extra_headers)
        return
    request = Request(scope, _replay(body))
    outcome = await engine.run_http_action(route, request, identity)
    await _send(_response(outcome, route.name), scope, send, extra_headers)


def _replay(body: bytes) -> Receive:
    """A `receive` that hands the handler the body already read, once."""
    sent = False

    async def receive() -> Message:
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return receive


def _response(outcome: Outcome, name: str) -> Response:
    if not outcome.ok:
        reply = {"code": "HttpActionFailed", "message": outcome.error_message}
        if outcome.error_data_json is not None:
            reply["data"] = json.loads(outcome.error_data_json.text)
        return JSONResponse(reply, status_code=500)
    value: Any = outcome.value
    if isinstance(value, Response):
        return value
    if isinstance(value, str):
        return PlainTextResponse(value)
    if isinstance(value, (bytes, bytearray)):
        return Response(bytes(value), media_type="application/octet-stream")
    if value is None:
        return Response(status_code=204)
    try:
        return JSONResponse(encode(value))
    except ValueEncodeError as exc:
        log.warning("HTTP action %s returned %r, which is no response: %s", name, value, exc)
        message = f"HTTP action {name} returned a {type(value).__name__}, not a response"
        return _error(500, "HttpActionFailed", message)


def _error(status: int, code: str, message: str) -> Response:
    return JSONResponse({"code": code, "message": message}, status_code=status)


async def _send(
    response: Response, scope: Scope, send: Send, extra_headers: list[tuple[bytes, bytes]]
) -> None:
    # CORS headers from the server's config; a handler's own take precedence.
    present = {name for name, _ in response.raw_headers}
    response.raw_headers.extend(h for h in extra_headers if h[0] not in present)

    async def nothing() -> Message:
        return {"type": "http.disconnect"}

    await response(scope, nothing, send)
