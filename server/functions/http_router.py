"""HTTP actions: what an app's `http.py` declares.

    from server import http_action, http_router

    @http_action
    async def hook(ctx, request):          # request: a starlette Request
        payload = await request.json()
        await ctx.run_mutation(internal.users.upsert, payload)
        return {"ok": True}                # or str, bytes, a starlette Response

    http = http_router()
    http.route(path="/hooks/clerk", method="POST", handler=hook)
    http.route(path_prefix="/files/", method="GET", handler=serve_file)

`ctx` is an action's: `run_query`, `run_mutation`, `run_action`,
`scheduler`, and `auth` from the request's `Authorization: Bearer` token.
An exact path wins over a prefix; among prefixes the longest wins.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from server.errors import ConfigError

__all__ = ["HttpRoute", "HttpRouter", "http_action", "http_router", "is_http_action"]

# OPTIONS is not routed: the server answers preflights from `[server] cors_origins`.
METHODS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE"})
# Paths the server keeps for itself: a route under one of them is refused.
RESERVED = ("/api/", "/health", "/metrics", "/_dashboard", "/dev-issuer")

H = TypeVar("H", bound=Callable[..., Any])
_MARK = "__livesync_http_action__"


def http_action(handler: H) -> H:
    """Mark `async def handler(ctx, request)` as an HTTP action."""
    if not inspect.iscoroutinefunction(handler):
        raise ConfigError(
            f"@http_action handler {getattr(handler, '__qualname__', handler)!r} "
            "must be an `async def` function"
        )
    setattr(handler, _MARK, True)
    return handler


def is_http_action(obj: object) -> bool:
    return getattr(obj, _MARK, False) is True


@dataclass(frozen=True, slots=True)
class HttpRoute:
    method: str
    path: str
    prefix: bool
    handler: Callable[..., Any]

    @property
    def name(self) -> str:
        """How logs name it: `POST /hooks/clerk` or `GET /files/*`."""
        return f"{self.method} {self.path}{'*' if self.prefix else ''}"


class HttpRouter:
    """The routes of `http.py`."""

    def __init__(self) -> None:
        self._exact: dict[tuple[str, str], HttpRoute] = {}
        self._prefixes: list[HttpRoute] = []

    def route(
        self,
        *,
        path: str | None = None,
        path_prefix: str | None = None,
        method: str,
        handler: Callable[..., Any],
    ) -> None:
        """Serve `handler` for `method` at `path`, or at every path that
        starts with `path_prefix` (which ends with "/")."""
        if (path is None) == (path_prefix is None):
            raise ConfigError("http.route takes either path= or path_prefix=")
        where = path if path is not None else path_prefix
        assert where is not None
        method = method.upper() if isinstance(method, str) else method
        if method not in METHODS:
            raise ConfigError(f"http.route: method {method!r} is not one of {sorted(METHODS)}")
        if not where.startswith("/"):
            raise ConfigError(f"http.route: {where!r} must start with '/'")
        if path_prefix is not None and not path_prefix.endswith("/"):
            raise ConfigError(f"http.route: path_prefix {path_prefix!r} must end with '/'")
        if any(where == r.rstrip("/") or where.startswith(r) for r in RESERVED):
            raise ConfigError(f"http.route: {where!r} is reserved by the server")
        if not is_http_action(handler):
            raise ConfigError(f"http.route: the handler for {where!r} must be an @http_action")
        route = HttpRoute(method, where, path_prefix is not None, handler)
        if route.prefix:
            twice = any((r.method, r.path) == (method, where) for r in self._prefixes)
        else:
            twice = (method, where) in self._exact
        if twice:
            raise ConfigError(f"http.route: {route.name} is routed twice")
        if route.prefix:
            self._prefixes.append(route)
            self._prefixes.sort(key=lambda r: len(r.path), reverse=True)
        else:
            self._exact[(method, where)] = route

    def lookup(self, method: str, path: str) -> HttpRoute | None:
        found = self._exact.get((method, path))
        if found is not None:
            return found
        for route in self._prefixes:
            if route.method == method and path.startswith(route.path):
                return route
        return None

    def methods(self, path: str) -> list[str]:
        """The methods some route serves at `path` (for a 405's Allow)."""
        return sorted(m for m in METHODS if self.lookup(m, path) is not None)

    def routes(self) -> list[HttpRoute]:
        return [*self._exact.values(), *self._prefixes]


def http_router() -> HttpRouter:
    """The router `http.py` assigns to `http`."""
    return HttpRouter()
