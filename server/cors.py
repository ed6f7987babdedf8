"""CORS for every HTTP route the server answers (`[server] cors_origins`):
the function API, HTTP actions and stored files alike."""

from __future__ import annotations

__all__ = ["cors_headers"]


def cors_headers(
    headers: dict[str, str], allowed: tuple[str, ...]
) -> list[tuple[bytes, bytes]] | None:
    """The CORS headers for a request; None when its Origin is not allowed.
    A listed origin is mirrored with credentials; "*" allows any origin
    without them (the API takes bearer tokens, not cookies)."""
    origin = headers.get("origin")
    if origin is None:
        # A response may be cached (a file's URL): one fetched without an
        # Origin (an <img>) must still serve a later cross-origin fetch.
        return (
            [(b"access-control-allow-origin", b"*")] if "*" in allowed else [(b"vary", b"origin")]
        )
    if origin in allowed:
        out = [
            (b"access-control-allow-origin", origin.encode("latin-1")),
            (b"access-control-allow-credentials", b"true"),
            (b"vary", b"origin"),
        ]
    elif "*" in allowed:
        out = [(b"access-control-allow-origin", b"*")]
    else:
        return None
    out.append((b"access-control-allow-methods", b"GET, POST, PUT, PATCH, DELETE, OPTIONS"))
    requested = headers.get("access-control-request-headers")
    if requested:
        out.append((b"access-control-allow-headers", requested.encode("latin-1")))
    return out
