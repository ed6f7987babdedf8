"""Token sources and refresh timing for the client.

The client never verifies tokens (the server does); it only reads ``iat`` and
``exp`` from the payload to decide when to fetch a fresh one, as the official
JS client does. Timing is derived from the token's own lifetime (``exp - iat``)
rather than from our wall clock, so clock skew between this machine and the
issuer does not make us refresh too late.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import inspect
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeAlias

__all__ = [
    "TokenFetcher",
    "TokenLifetime",
    "TokenSource",
    "as_token_fetcher",
    "read_lifetime",
    "refresh_delay",
]

logger = logging.getLogger("livesync.client.auth")

TokenFetcher: TypeAlias = Callable[[bool], Awaitable[str | None]]
"""``async fetch_token(force_refresh) -> token or None``."""

TokenSource: TypeAlias = str | Callable[[bool], object] | None
"""What ``auth=`` accepts: a token, a ``fetch_token(force_refresh)`` callable
(async, or plain and then run in a thread), or None."""

# Refresh this long before expiry, but never more than a quarter of a short
# token's lifetime (a 5 s token would otherwise be refreshed in a tight loop).
DEFAULT_LEEWAY = 10.0
# Tokens shorter than this cannot be refreshed meaningfully ahead of expiry.
MIN_REFRESHABLE_LIFETIME = 1.0


@dataclass(frozen=True, slots=True)
class TokenLifetime:
    """The ``iat``/``exp`` claims of a token, in seconds since the epoch."""

    issued_at: float
    expires_at: float

    @property
    def seconds(self) -> float:
        return self.expires_at - self.issued_at


def read_lifetime(token: str) -> TokenLifetime | None:
    """Read ``iat`` and ``exp`` from a JWT without verifying it.

    Returns None when the token is not a JWT or lacks either claim; such a
    token is simply never refreshed ahead of time.
    """
    parts = token.split(".")
    if len(parts) != 3:
        return None
    try:
        payload = json.loads(_b64url_decode(parts[1]))
    except (binascii.Error, ValueError):
        return None
    if not isinstance(payload, dict):
        return None
    iat, exp = payload.get("iat"), payload.get("exp")
    if not isinstance(iat, int | float) or not isinstance(exp, int | float):
        return None
    if isinstance(iat, bool) or isinstance(exp, bool):
        return None
    return TokenLifetime(float(iat), float(exp))


def refresh_delay(lifetime: TokenLifetime, leeway: float = DEFAULT_LEEWAY) -> float | None:
    """Seconds after the server confirmed a token at which to fetch the next one.

    Returns None when the token is too short-lived to refresh ahead of time.
    """
    seconds = lifetime.seconds
    if seconds < MIN_REFRESHABLE_LIFETIME:
        return None
    return seconds - min(leeway, seconds / 4)


def as_token_fetcher(auth: TokenSource) -> TokenFetcher | None:
    """Turn the ``auth=`` argument into an async fetcher.

    Accepts a plain token string (always returned as is), an async callable, or
    a plain callable (run in a worker thread so it may block, e.g. in scripts).
    """
    if auth is None:
        return None
    if isinstance(auth, str):
        return _static_fetcher(auth)
    if not callable(auth):
        raise TypeError("auth must be a token string or a fetch_token(force_refresh) callable")
    return _callable_fetcher(auth)


def _static_fetcher(token: str) -> TokenFetcher:
    async def fetch(force_refresh: bool) -> str | None:
        return token

    return fetch


def _callable_fetcher(func: Callable[[bool], object]) -> TokenFetcher:
    async def fetch(force_refresh: bool) -> str | None:
        if inspect.iscoroutinefunction(func):
            result = await func(force_refresh)
        else:
            result = await asyncio.to_thread(func, force_refresh)
            if inspect.isawaitable(result):
                result = await result
        if result is not None and not isinstance(result, str):
            raise TypeError(f"fetch_token returned {type(result).__name__}, expected str or None")
        return result

    return fetch


def _b64url_decode(segment: str) -> bytes:
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
