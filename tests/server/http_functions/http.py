"""Routes for the HTTP action tests: every kind of reply, the ctx of an
action, the request as starlette gives it."""

from __future__ import annotations

from typing import Any

from server import AppError, Response, http_action, http_router, internal

__all__ = ["http"]


@http_action
async def echo(ctx: Any, request: Any) -> Any:
    identity = await ctx.auth.get_user_identity()
    return {
        "method": request.method,
        "path": request.url.path,
        "query": dict(request.query_params),
        "header": request.headers.get("x-probe"),
        "body": (await request.body()).decode(),
        "subject": identity.subject if identity is not None else None,
    }


@http_action
async def save(ctx: Any, request: Any) -> Any:
    payload = await request.json()
    note_id = await ctx.run_mutation(internal.notes.add, {"text": payload["text"]})
    count = await ctx.run_query(internal.notes.count)
    job = await ctx.scheduler.run_after(0, internal.notes.add, {"text": "scheduled"})
    return Response(f"{note_id} {count} {job}", status_code=201, headers={"x-saved": "yes"})


@http_action
async def text(ctx: Any, request: Any) -> str:
    return "plain words"


@http_action
async def raw(ctx: Any, request: Any) -> bytes:
    return b"\x00\x01binary"


@http_action
async def nothing(ctx: Any, request: Any) -> None:
    return None


@http_action
async def refuse(ctx: Any, request: Any) -> None:
    raise AppError({"why": "refused on purpose"})


@http_action
async def crash(ctx: Any, request: Any) -> None:
    raise RuntimeError("internal detail 51c2")


@http_action
async def odd(ctx: Any, request: Any) -> Any:
    return object()


http = http_router()
http.route(path="/echo", method="GET", handler=echo)
http.route(path="/echo", method="PUT", handler=echo)
http.route(path_prefix="/files/", method="GET", handler=echo)
http.route(path_prefix="/files/special/", method="GET", handler=text)
http.route(path="/save", method="POST", handler=save)
http.route(path="/text", method="GET", handler=text)
http.route(path="/raw", method="GET", handler=raw)
http.route(path="/nothing", method="DELETE", handler=nothing)
http.route(path="/refuse", method="POST", handler=refuse)
http.route(path="/crash", method="POST", handler=crash)
http.route(path="/odd", method="GET", handler=odd)
