"""The HTTP side of the server's port: the dashboard page, health,
metrics, the HTTP function API, file storage and the app's HTTP actions,
each behind the CORS check; and the two optional side listeners (`/metrics`
alone, the HTTP actions alone).
"""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING

from server.asgi import Receive, Scope, Send, read_body, request_headers, respond
from server.cors import cors_headers
from server.dashboard import dashboard_path, injects_key, serve_dashboard
from server.functions.http_router import HttpRouter
from server.http_actions import serve_http_action
from server.http_api import API_ROUTES, HttpReply, handle_api_call, json_error
from server.metrics import CONTENT_TYPE
from server.storage.routes import serve_storage

if TYPE_CHECKING:
    from server.app import LivesyncApp

__all__ = ["HttpRoutes"]


class HttpRoutes:
    """Routes the HTTP requests of one `LivesyncApp`, reading its state
    (engine, config, admin key, draining) at each request."""

    def __init__(self, app: LivesyncApp) -> None:
        self._app = app

    async def metrics_app(self, scope: Scope, receive: Receive, send: Send) -> None:
        """/metrics alone, for the listener `[server] metrics = "HOST:PORT"` names."""
        if scope["type"] != "http":
            return
        if scope.get("path") == "/metrics" and scope["method"] == "GET":
            await self._metrics(send, [])
        else:
            await _send_reply(send, json_error(404, "NotFound", "Only /metrics is served here"), [])

    async def _metrics(self, send: Send, cors: list[tuple[bytes, bytes]]) -> None:
        reply = HttpReply(200, self._app.metrics.render())
        await _send_reply(send, reply, cors, content_type=CONTENT_TYPE)

    async def site_app(self, scope: Scope, receive: Receive, send: Send) -> None:
        """The HTTP actions alone, for the `[server] site_port` listener."""
        if scope["type"] != "http":
            return
        path = re.sub("/+", "/", scope.get("path", "/"))
        headers = request_headers(scope)
        cors = await self._cors(headers, scope["method"], send)
        if cors is None:
            return
        if self._http_actions is None:
            await _send_reply(send, json_error(404, "NotFound", "This app has no http.py"), cors)
            return
        await self._serve_http_actions(dict(scope, path=path), receive, send, headers, cors)

    async def _cors(
        self, headers: dict[str, str], method: str, send: Send
    ) -> list[tuple[bytes, bytes]] | None:
        """The CORS headers for this request; None once it was answered here
        (an origin refused, or a preflight)."""
        cors = cors_headers(headers, self._app.config.server.cors_origins)
        if cors is None:
            # Refused outright, not merely left unreadable: a browser sends
            # some POSTs without a preflight, and those would still run.
            origin = headers.get("origin", "")
            reply = json_error(403, "OriginNotAllowed", f"Origin {origin} is not allowed")
            await _send_reply(send, reply, [])
            return None
        if method == "OPTIONS":
            await _send_reply(send, HttpReply(204, ""), cors)
            return None
        return cors

    async def __call__(self, scope: Scope, receive: Receive, send: Send, path: str) -> None:
        """Answer the HTTP request `scope` for `path` (its slashes collapsed)."""
        method = scope["method"]
        headers = request_headers(scope)
        if dashboard_path(path):
            # Before CORS: no other origin may read the page (it may hold the key).
            key = (
                self._app.admin_key.current()
                if injects_key(scope, headers, self._app.dev)
                else None
            )
            await serve_dashboard(
                dict(scope, path=path),
                receive,
                send,
                headers=headers,
                key=key,
                enabled=self._app.config.server.dashboard,
            )
            return
        cors = await self._cors(headers, method, send)
        if cors is None:
            return
        if path == "/health" and method in ("GET", "HEAD"):
            await _send_reply(send, self._health(), cors)
        elif path == "/metrics" and method == "GET" and self._app.config.server.metrics == "public":
            await self._metrics(send, cors)
        elif path in API_ROUTES:
            if method != "POST":
                await _send_reply(send, json_error(405, "MethodNotAllowed", "Use POST"), cors)
                return
            assert self._app.engine is not None, "startup() has not run"
            body = await read_body(receive, self._app.config.server.max_message_bytes)
            if self._app.draining:
                reply = json_error(503, "ServerShuttingDown", "The server is shutting down; retry")
            elif body is None:
                reply = json_error(413, "PayloadTooLarge", "Request body too large")
            else:
                reply = await handle_api_call(
                    path,
                    body,
                    headers.get("authorization"),
                    self._app.engine,
                    self._app.authenticate,
                    self._app.config.limits,
                    self._app.admin_key,
                )
            await _send_reply(send, reply, cors)
        elif path.startswith("/api/storage/"):
            assert self._app.engine is not None, "startup() has not run"
            await serve_storage(
                dict(scope, path=path),
                receive,
                send,
                headers=headers,
                storage=self._app.storage,
                engine=self._app.engine,
                extra_headers=cors,
            )
        elif self._http_actions is not None and not path.startswith("/api/"):
            await self._serve_http_actions(dict(scope, path=path), receive, send, headers, cors)
        else:
            await _send_reply(send, json_error(404, "NotFound", f"No route for {path}"), cors)

    @property
    def _http_actions(self) -> HttpRouter | None:
        return self._app.engine.runner.registry.http if self._app.engine is not None else None

    async def _serve_http_actions(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        headers: dict[str, str],
        cors: list[tuple[bytes, bytes]],
    ) -> None:
        router = self._http_actions
        assert self._app.engine is not None and router is not None
        if self._app.draining:
            reply = json_error(503, "ServerShuttingDown", "The server is shutting down; retry")
            await _send_reply(send, reply, cors)
            return
        await serve_http_action(
            scope,
            receive,
            send,
            headers=headers,
            router=router,
            engine=self._app.engine,
            authenticate=self._app.authenticate,
            max_body=self._app.config.server.max_message_bytes,
            extra_headers=cors,
        )

    def _health(self) -> HttpReply:
        if self._app.engine is None:
            return HttpReply(503, json.dumps({"status": "starting"}))
        dead = self._app.dead_tasks()
        if dead:
            # Writes or upkeep have stopped: a load balancer should move on.
            return HttpReply(503, json.dumps({"status": "unhealthy", "dead_tasks": dead}))
        if self._app.draining:
            return HttpReply(503, json.dumps({"status": "draining"}))
        return HttpReply(200, json.dumps({"status": "ok"}))


async def _send_reply(
    send: Send,
    reply: HttpReply,
    extra: list[tuple[bytes, bytes]],
    content_type: str = "application/json",
) -> None:
    """Send `reply` whole, with the headers `extra` (CORS)."""
    await respond(
        send, reply.status, reply.body.encode(), [(b"content-type", content_type.encode()), *extra]
    )
