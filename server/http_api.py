"""POST /api/query, /api/mutation, /api/action: the HTTP function API.

The body is what `ConvexHttpClient` sends: `{"path", "args", "format"}` with
args a one-element array or a bare object. Function outcomes are HTTP 200
with `{"status": "success" | "error", ...}`, as the real server answers;
malformed requests get 400 and refused tokens 401, each with a JSON
`{"code", "message"}` body, which is what the Python client expects.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Any, Literal

from protocol.errors import ProtocolError
from protocol.paths import canonicalize_udf_path
from protocol.values import decode_args
from server.errors import AuthError, IssuerUnavailable
from server.functions.runner import SERVER_ERROR
from server.sync.engine import SERVER_ERROR_RESULT, CallResult, Engine, call_result

__all__ = ["HttpReply", "handle_function_call"]

log = logging.getLogger("livesync.http")

Kind = Literal["query", "mutation", "action"]


@dataclass(frozen=True, slots=True)
class HttpReply:
    status: int
    body: str


def _error(status: int, code: str, message: str) -> HttpReply:
    return HttpReply(status, json.dumps({"code": code, "message": message}))


def _reply(result: CallResult) -> HttpReply:
    log_lines = json.dumps(list(result.log_lines))
    if result.ok:
        value = result.value_json.text if result.value_json is not None else "null"
        return HttpReply(200, f'{{"status":"success","value":{value},"logLines":{log_lines}}}')
    parts = [
        '"status":"error"',
        f'"errorMessage":{json.dumps(result.error_message or SERVER_ERROR)}',
        f'"logLines":{log_lines}',
    ]
    if result.error_data_json is not None:
        parts.append(f'"errorData":{result.error_data_json.text}')
    return HttpReply(200, "{" + ",".join(parts) + "}")


async def handle_function_call(
    kind: Kind, body: bytes, authorization: str | None, engine: Engine, authenticate: Any
) -> HttpReply:
    """Run one function call from an HTTP request."""
    try:
        request = json.loads(body)
        if not isinstance(request, dict) or not isinstance(request.get("path"), str):
            return _error(400, "BadJsonBody", 'Expected a JSON object with a string "path"')
        path = canonicalize_udf_path(request["path"])
        args = decode_args(request.get("args", {}))
    except (ValueError, ProtocolError) as exc:
        return _error(400, "BadJsonBody", f"Invalid request body: {exc}")
    identity = None
    if authorization:
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return _error(401, "Unauthenticated", "Authorization header must be 'Bearer <token>'")
        if authenticate is None:
            return _error(401, "Unauthenticated", "No auth provider found matching the given token")
        try:
            identity = (await authenticate(token.strip())).identity
        except IssuerUnavailable as exc:
            return _error(503, "IssuerUnavailable", exc.message)
        except AuthError as exc:
            return _error(401, "Unauthenticated", exc.message)
    try:
        if kind == "mutation":
            return _reply(await engine.mutate(path, args, identity, None))
        if kind == "action":
            return _reply(await engine.run_action(path, args, identity))
        snapshot = engine.store.snapshot(engine.published_ts)
        return _reply(call_result(await engine.runner.run_query(path, args, identity, snapshot)))
    except Exception:
        log.exception("HTTP %s %s failed", kind, path)
        return _reply(SERVER_ERROR_RESULT)
