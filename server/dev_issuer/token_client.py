"""Asking a running dev issuer for a token over HTTP (`livesync token`, tests)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import httpx

from server.errors import ConfigError, IssuerUnavailable

__all__ = ["arequest_token", "request_token"]


def _token_request(
    sub: str,
    email: str | None,
    name: str | None,
    ttl: float | None,
    extra: Mapping[str, Any] | None,
) -> dict[str, Any]:
    body: dict[str, Any] = dict(extra or {})
    body["sub"] = sub
    for key, value in (("email", email), ("name", name), ("ttl", ttl)):
        if value is not None:
            body[key] = value
    return body


def _unreachable(issuer_url: str, error: httpx.HTTPError) -> IssuerUnavailable:
    if isinstance(error, httpx.ConnectError):
        # Nothing listening: most often the server was never started.
        return IssuerUnavailable(
            f"no dev issuer answers at {issuer_url} ({error}): start one with "
            "`livesync dev` in another terminal, or pass --issuer URL"
        )
    return IssuerUnavailable(f"dev issuer at {issuer_url} is unreachable: {error}")


def _token_from(response: httpx.Response, issuer_url: str) -> str:
    if response.status_code == 404:
        raise ConfigError(
            f"no dev issuer at {issuer_url} (HTTP 404): the server there is not "
            "`livesync dev`; pass --issuer with a running dev issuer's URL"
        )
    if response.status_code >= 500:
        raise IssuerUnavailable(f"dev issuer at {issuer_url} failed: HTTP {response.status_code}")
    if response.status_code != 200:
        detail = response.json().get("error", response.text) if response.content else ""
        raise ConfigError(f"dev issuer at {issuer_url} refused the request: {detail}")
    return str(response.json()["token"])


def request_token(
    issuer_url: str,
    sub: str,
    email: str | None = None,
    name: str | None = None,
    ttl: float | None = None,
    extra: Mapping[str, Any] | None = None,
) -> str:
    """Ask a running dev issuer for a token (blocking; for the CLI)."""
    url = issuer_url.rstrip("/") + "/token"
    try:
        response = httpx.post(url, json=_token_request(sub, email, name, ttl, extra), timeout=10)
    except httpx.HTTPError as error:
        raise _unreachable(issuer_url, error) from error
    return _token_from(response, issuer_url)


async def arequest_token(
    issuer_url: str,
    sub: str,
    email: str | None = None,
    name: str | None = None,
    ttl: float | None = None,
    extra: Mapping[str, Any] | None = None,
) -> str:
    """`request_token` for async callers (never block the loop the issuer may run on)."""
    url = issuer_url.rstrip("/") + "/token"
    body = _token_request(sub, email, name, ttl, extra)
    try:
        async with httpx.AsyncClient(timeout=10) as client:
            response = await client.post(url, json=body)
    except httpx.HTTPError as error:
        raise _unreachable(issuer_url, error) from error
    return _token_from(response, issuer_url)
