"""`GET /_dashboard/`: the dashboard page, built (server/dashboard/ui) into
server/dashboard/static and shipped in the package.

The page holds no secret of its own: it asks for the admin key and talks to
the server through the sync protocol like any app. In `livesync dev`, a
request from this machine gets the key in the page (a `<meta>` tag), so the
page opens signed in. Only a request that is plainly a person on this
machine opening the page gets it: from a loopback address, addressed to a
loopback name (a DNS-rebinding page is addressed to its own name), passed
on by no proxy, and not fetched or opened by another page. The dashboard's
responses carry no CORS headers, and no other page may frame it.
"""

from __future__ import annotations

import html
import mimetypes
from pathlib import Path

from starlette.responses import FileResponse, RedirectResponse, Response

from server.asgi import Receive, Scope, Send

__all__ = ["PREFIX", "STATIC_DIR", "dashboard_path", "injects_key", "serve_dashboard"]

PREFIX = "/_dashboard"
STATIC_DIR = Path(__file__).resolve().parent / "static"
KEY_META = "livesync-admin-key"

_LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "[::1]"})
# Headers of a request a proxy passed on: the client is not who connected.
_PROXY_HEADERS = ("forwarded", "x-forwarded-for", "x-real-ip")
_PAGE_HEADERS = {
    # The page may carry the admin key (dev): never cached, never framed.
    "cache-control": "no-store",
    "x-frame-options": "DENY",
    "content-security-policy": "frame-ancestors 'none'",
    "referrer-policy": "no-referrer",
    "x-content-type-options": "nosniff",
}


def dashboard_path(path: str) -> bool:
    """Whether `path` (slashes collapsed) is the dashboard's."""
    return path == PREFIX or path.startswith(PREFIX + "/")


def injects_key(scope: Scope, headers: dict[str, str], dev: bool) -> bool:
    """Whether this request for the page gets the admin key in it."""
    if not dev:
        return False
    client = scope.get("client") or ("", 0)
    host = headers.get("host", "").lower()
    name = host.rsplit(":", 1)[0] if not host.endswith("]") else host
    return (
        _is_loopback(client[0])
        and name in _LOOPBACK_HOSTS
        and not any(h in headers for h in _PROXY_HEADERS)
        and "origin" not in headers  # a fetch from a script, not a visit
        # Typed or bookmarked ("none"), or a client that does not say. Not
        # even "same-origin": a page the app serves itself (an HTTP action,
        # an uploaded file) could open the dashboard and read it.
        and headers.get("sec-fetch-site", "none") == "none"
    )


def _is_loopback(address: str) -> bool:
    return address.startswith("127.") or address in ("::1", "::ffff:127.0.0.1")


async def serve_dashboard(
    scope: Scope,
    receive: Receive,
    send: Send,
    *,
    headers: dict[str, str],
    key: str | None,
    enabled: bool = True,
) -> None:
    """Answer a request under `/_dashboard`; `key`: the admin key to put
    in the page (see `injects_key`), or None."""
    path, method = scope["path"], scope["method"]
    rest = path[len(PREFIX) :]
    if not enabled:
        response = _error(404, "The dashboard is turned off ([server] dashboard = false)")
    elif method not in ("GET", "HEAD"):
        response = _error(405, "The dashboard is read with GET")
    elif rest == "":
        # Its assets are relative to the folder: /_dashboard/.
        response = RedirectResponse(PREFIX + "/", status_code=308)
    elif rest in ("/", "/index.html"):
        response = _page(key)
    else:
        response = _asset(rest.lstrip("/"))
    await response(scope, receive, send)


def _page(key: str | None) -> Response:
    index = STATIC_DIR / "index.html"
    try:
        page = index.read_text(encoding="utf-8")
    except FileNotFoundError:
        return _error(404, "The dashboard is not built (npm run build in server/dashboard/ui)")
    if key is not None:
        meta = f'<meta name="{KEY_META}" content="{html.escape(key, quote=True)}">'
        page = page.replace("<head>", f"<head>\n    {meta}", 1)
    return Response(page, media_type="text/html; charset=utf-8", headers=_PAGE_HEADERS)


def _asset(name: str) -> Response:
    file = (STATIC_DIR / name).resolve()
    if not file.is_relative_to(STATIC_DIR) or not file.is_file():
        return _error(404, f"No dashboard file {name}")
    media_type = mimetypes.guess_type(file.name)[0] or "application/octet-stream"
    # Built assets are named by their content's hash: cached for good.
    cache = "public, max-age=31536000, immutable" if name.startswith("assets/") else "no-cache"
    return FileResponse(
        file,
        media_type=media_type,
        headers={"cache-control": cache, "x-content-type-options": "nosniff"},
    )


def _error(status: int, message: str) -> Response:
    return Response(message + "\n", status_code=status, media_type="text/plain; charset=utf-8")
