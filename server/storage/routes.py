"""The storage routes: `POST /api/storage/upload?token=...` (an upload URL)
and `GET /api/storage/<id>` (a file's URL). A file's URL names that file
alone, by its unguessable id; an upload URL stores one file, once."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from urllib.parse import parse_qs

from starlette.responses import Response

from server.asgi import Message, Receive, Scope, Send
from server.errors import FileStoreUnavailable, LimitExceeded, StoreUnavailable
from server.storage.service import Storage, UploadRefused
from server.sync.engine import Engine

__all__ = ["UPLOAD_PATH", "serve_storage"]

log = logging.getLogger("livesync.storage")

PREFIX = "/api/storage/"
UPLOAD_PATH = PREFIX + "upload"


async def serve_storage(
    scope: Scope,
    receive: Receive,
    send: Send,
    *,
    headers: dict[str, str],
    storage: Storage | None,
    engine: Engine,
    extra_headers: list[tuple[bytes, bytes]],
) -> None:
    path, method = scope["path"], scope["method"]
    if storage is None:
        response = _error(404, "NotFound", "File storage is not set up on this server")
    elif path == UPLOAD_PATH:
        if method == "POST":
            response = await _upload(scope, headers, receive, storage, engine)
        else:
            response = _error(405, "MethodNotAllowed", "POST the file to its upload URL")
    elif method in ("GET", "HEAD"):
        response = await _download(path.removeprefix(PREFIX), method, headers, storage, engine)
    else:
        response = _error(405, "MethodNotAllowed", "Files are read with GET")
    present = {name for name, _ in response.raw_headers}
    response.raw_headers.extend(h for h in extra_headers if h[0] not in present)
    await response(scope, receive, send)


async def _upload(
    scope: Scope, headers: dict[str, str], receive: Receive, storage: Storage, engine: Engine
) -> Response:
    query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
    token = (query.get("token") or [""])[0]
    content_type = headers.get("content-type") or "application/octet-stream"
    if not storage.allows(content_type):
        return _error(415, "UnsupportedMediaType", f"Content type {content_type!r} is not allowed")
    limit = storage.settings.max_file_bytes
    declared = headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        return _error(413, "PayloadTooLarge", f"File too large (the limit is {limit:,} bytes)")
    try:
        # Checked before the body is read too: a dead URL costs no upload.
        await storage.check_upload(engine.store.snapshot().get, token)
        storage_id = await storage.accept(engine.transact, token, _body(receive), content_type)
    except UploadRefused as exc:
        return _error(403, "InvalidUploadUrl", str(exc))
    except LimitExceeded as exc:
        return _error(413, "PayloadTooLarge", str(exc))
    except StoreUnavailable:
        return _error(503, "DatabaseUnavailable", "The database is out of reach; retry later")
    except FileStoreUnavailable as exc:
        log.warning("upload: %s", exc)
        return _error(503, "StorageUnavailable", "File storage is out of reach; retry later")
    except _Disconnected:
        return _error(400, "UploadIncomplete", "The client left before the file was sent")
    return Response(json.dumps({"storageId": storage_id}), media_type="application/json")


async def _download(
    storage_id: str, method: str, headers: dict[str, str], storage: Storage, engine: Engine
) -> Response:
    meta = await storage.metadata(engine.store.snapshot().get, storage_id)
    try:
        response = None
        if meta is not None:
            response = await storage.files.response(storage_id, int(meta["size"]), headers, method)
    except FileStoreUnavailable as exc:
        log.warning("serving %s: %s", storage_id, exc)
        return _error(503, "StorageUnavailable", "File storage is out of reach; retry later")
    if meta is None or response is None:
        return _error(404, "NotFound", "No such file")
    response.headers["content-type"] = meta["contentType"] or "application/octet-stream"
    # Each id names one immutable file: its hash is its ETag, cached for good.
    response.headers["etag"] = f'"{meta["sha256"]}"'
    response.headers["cache-control"] = "private, max-age=31536000"
    # A file is an app user's upload served on this server's origin, the
    # dashboard's too: opened as a page (an HTML or SVG file), it gets an
    # origin of its own and runs no script, and its type is never guessed.
    response.headers["content-security-policy"] = "sandbox"
    response.headers["x-content-type-options"] = "nosniff"
    return response


class _Disconnected(Exception):
    pass


async def _body(receive: Receive) -> AsyncIterator[bytes]:
    while True:
        message: Message = await receive()
        if message["type"] == "http.disconnect":
            raise _Disconnected
        chunk = message.get("body", b"")
        if chunk:
            yield chunk
        if not message.get("more_body"):
            return


def _error(status: int, code: str, message: str) -> Response:
    body = json.dumps({"code": code, "message": message})
    return Response(body, status_code=status, media_type="application/json")
