"""The HTTP function API: the `/api/...` routes `ConvexHttpClient` POSTs to.

    route              body                          runs
    /api/query         {"path", "args", "format"}    a query at the latest commit
    /api/mutation      the same                      a mutation
    /api/action        the same                      an action
    /api/function      the same + "componentPath"?   `path` as whatever kind it is
    /api/query_ts      none                          nothing: {"ts": <latest commit>}
    /api/query_at_ts   the same + "ts"               a query at snapshot `ts`

`ts` is the wire timestamp (base64 of the u64's 8 little-endian bytes), as
the real server sends it; `ConvexHttpClient.consistentQuery` gets one from
/api/query_ts and runs every later query of that client at it. Args are a
one-element array or a bare object. Every route goes through one parse,
one authentication and one dispatch. Function outcomes are HTTP 200 with
`{"status": "success" | "error", ...}`, as the real server answers; a
malformed request gets 400, a refused token 401, each with a JSON
`{"code", "message"}` body, which is what both official clients read (the
JS client throws an `Error` with the body as its message).
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Final

from protocol.errors import ProtocolError
from protocol.paths import canonicalize_udf_path
from protocol.timestamps import decode_ts, encode_ts
from protocol.values import decode_args
from server.admin.keys import AdminKey, admin_grant
from server.auth.authenticator import AuthResult
from server.auth.identity import UserIdentity
from server.config import Limits
from server.errors import AuthError, FunctionNotFound, IssuerUnavailable, StoreUnavailable
from server.functions.decorators import FunctionKind
from server.functions.outcome import SERVER_ERROR, Outcome, failure
from server.limits import args_refusal, path_refusal
from server.sync.engine import Engine

__all__ = [
    "API_ROUTES",
    "MAX_SNAPSHOT_AGE_NS",
    "Authenticate",
    "HttpReply",
    "Refused",
    "bearer_identity",
    "caller",
    "handle_api_call",
    "json_error",
]

log = logging.getLogger("livesync.http")

# The kind each route runs; None: the kind of the function named.
_ROUTE_KINDS: Final[dict[str, FunctionKind | None]] = {
    "/api/query": "query",
    "/api/mutation": "mutation",
    "/api/action": "action",
    "/api/function": None,
    "/api/query_at_ts": "query",
}
_QUERY_TS = "/api/query_ts"
API_ROUTES: Final = frozenset({*_ROUTE_KINDS, _QUERY_TS})

MAX_SNAPSHOT_AGE_NS: Final = 60 * 10**9
"""How far behind the latest commit /api/query_at_ts may read. The server
keeps longer history than this (`app.HISTORY_RETENTION_NS`), so a query
admitted at the edge still finds its snapshot intact while it runs."""


@dataclass(frozen=True, slots=True)
class HttpReply:
    status: int
    body: str


def json_error(status: int, code: str, message: str) -> HttpReply:
    """A non-2xx reply with the `{"code", "message"}` body the clients read."""
    return HttpReply(status, json.dumps({"code": code, "message": message}))


class Refused(Exception):
    """The request is refused before any function runs."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.reply = json_error(status, code, message)


@dataclass(frozen=True, slots=True)
class _Call:
    path: str
    args: dict[str, Any]
    ts: int | None  # the snapshot asked for; None: the latest


class _Failed(Exception):
    """The call fails as a call would (a size limit), before it runs."""


def _parse(route: str, body: bytes, limits: Limits) -> _Call:
    try:
        request = json.loads(body)
        if not isinstance(request, dict) or not isinstance(request.get("path"), str):
            raise Refused(400, "BadJsonBody", 'Expected a JSON object with a string "path"')
        refusal = path_refusal(request["path"], limits.udf_path_bytes) or args_refusal(
            request.get("args", {}), len(body), limits.args_bytes
        )
        if refusal is not None:
            raise _Failed(refusal)
        path = canonicalize_udf_path(request["path"])
        args = decode_args(request.get("args", {}))
        ts = _requested_ts(request) if route == "/api/query_at_ts" else None
    except (ValueError, ProtocolError) as exc:
        raise Refused(400, "BadJsonBody", f"Invalid request body: {exc}") from None
    if request.get("componentPath") not in (None, ""):
        # Components are not supported: only the root app's functions exist.
        raise Refused(400, "BadJsonBody", f"Unknown componentPath {request['componentPath']!r}")
    return _Call(path, args, ts)


def _requested_ts(request: dict[str, Any]) -> int:
    text = request.get("ts")
    if not isinstance(text, str):
        raise Refused(400, "BadJsonBody", 'Expected a string "ts" from /api/query_ts')
    return decode_ts(text)


Authenticate = Callable[[str], Awaitable[AuthResult]]
"""How the HTTP API checks a Bearer token: `Authenticator.authenticate`."""


async def caller(
    authorization: str | None, authenticate: Authenticate | None, admin_key: AdminKey | None
) -> tuple[UserIdentity | None, bool]:
    """(identity, whether the caller is the admin) of an `Authorization`
    header: `Bearer <token>`, or `Convex <admin key>[:<base64 identity JSON>]`
    as the official clients send an admin key (acting as that identity)."""
    scheme, _, value = (authorization or "").partition(" ")
    if scheme != "Convex":
        return await bearer_identity(authorization, authenticate), False
    key, _, acting = value.strip().partition(":")
    try:
        attributes = json.loads(base64.b64decode(acting, validate=True)) if acting else None
        grant = admin_grant(admin_key, key, attributes)
    except (ValueError, binascii.Error):
        raise Refused(401, "Unauthenticated", "The admin identity is not base64 JSON") from None
    except AuthError as exc:
        raise Refused(401, "Unauthenticated", exc.message) from None
    return grant.identity, True


async def bearer_identity(
    authorization: str | None, authenticate: Authenticate | None
) -> UserIdentity | None:
    """The identity an `Authorization: Bearer` header carries (None without
    one); raises `Refused` (401, or 503 when the issuer is out of reach)."""
    if not authorization:
        return None
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Refused(401, "Unauthenticated", "Authorization header must be 'Bearer <token>'")
    if authenticate is None:
        raise Refused(401, "Unauthenticated", "No auth provider found matching the given token")
    try:
        identity = (await authenticate(token.strip())).identity
    except IssuerUnavailable as exc:
        raise Refused(503, "IssuerUnavailable", exc.message) from None
    except AuthError as exc:
        raise Refused(401, "Unauthenticated", exc.message) from None
    return identity


def _snapshot_ts(requested: int | None, engine: Engine) -> int:
    latest = engine.published_ts
    if requested is None:
        return latest
    if requested > latest:
        raise Refused(
            400,
            "TimestampInFuture",
            f"Timestamp {requested} is after the latest commit {latest}; "
            "use a timestamp from /api/query_ts",
        )
    if latest - requested > MAX_SNAPSHOT_AGE_NS:
        raise Refused(
            400,
            "TimestampTooOld",
            f"Timestamp {requested} is more than {MAX_SNAPSHOT_AGE_NS // 10**9} s older "
            f"than the latest commit {latest}; its history may be gone. Get a new "
            "timestamp from /api/query_ts (a new ConvexHttpClient)",
        )
    return requested


def _reply(result: Outcome) -> HttpReply:
    log_lines = json.dumps(list(result.log_lines))
    if result.value_json is not None:
        value = result.value_json.text
        return HttpReply(200, f'{{"status":"success","value":{value},"logLines":{log_lines}}}')
    parts = [
        '"status":"error"',
        f'"errorMessage":{json.dumps(result.error_message or SERVER_ERROR)}',
        f'"logLines":{log_lines}',
    ]
    if result.error_data_json is not None:
        parts.append(f'"errorData":{result.error_data_json.text}')
    return HttpReply(200, "{" + ",".join(parts) + "}")


async def handle_api_call(
    route: str,
    body: bytes,
    authorization: str | None,
    engine: Engine,
    authenticate: Authenticate | None,
    limits: Limits | None = None,
    admin_key: AdminKey | None = None,
) -> HttpReply:
    """Answer one POST to `route` (one of `API_ROUTES`)."""
    if route == _QUERY_TS:
        # The newest published commit: a snapshot every reader can already see.
        return HttpReply(200, json.dumps({"ts": encode_ts(engine.published_ts)}))
    try:
        call = _parse(route, body, limits if limits is not None else Limits())
        identity, admin = await caller(authorization, authenticate, admin_key)
        ts = _snapshot_ts(call.ts, engine)
    except Refused as refused:
        return refused.reply
    except _Failed as failed:
        return _reply(failure(str(failed)))
    kind = _ROUTE_KINDS[route]
    if kind is None:
        try:
            kind = engine.function_kind(call.path, internal_ok=admin)
        except FunctionNotFound as exc:
            return _reply(failure(str(exc)))
    try:
        if kind == "mutation":
            committed = await engine.mutate(call.path, call.args, identity, internal_ok=admin)
            return _reply(committed.outcome)
        if kind == "action":
            return _reply(
                await engine.run_action(call.path, call.args, identity, internal_ok=admin)
            )
        return _reply(await engine.run_query(call.path, call.args, identity, ts, internal_ok=admin))
    except StoreUnavailable:
        # Nothing is known to be written; a mutation retried after this may
        # apply twice if its COMMIT did land (the HTTP API has no request ids).
        return json_error(503, "DatabaseUnavailable", "The database is unreachable; retry later")
    except Exception:
        log.exception("HTTP %s %s failed", route, call.path)
        return _reply(failure(SERVER_ERROR))
