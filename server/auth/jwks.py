"""Issuer signing keys, fetched over HTTP and cached per (issuer, kid).

OIDC issuers are found by discovery (`/.well-known/openid-configuration`, whose
`issuer` must equal the token's), custom-JWT issuers name their JWKS URL. A key
set stays fresh for the response's Cache-Control max-age, clamped between a
floor (so a `no-cache` issuer is not hit per token) and a ceiling (so removed
keys age out). A token whose kid is unknown triggers one refetch per cooldown,
which is how rotations are picked up without letting junk kids hammer the
issuer. When a fetch fails the last keys keep serving; only a token that needs
keys we do not have raises IssuerUnavailable.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote_to_bytes

import httpx
import jwt

from server.errors import IssuerUnavailable, TokenInvalid

__all__ = ["CachedKey", "KeyCache", "KeyCachePolicy", "KeySource"]

logger = logging.getLogger("livesync.auth.jwks")

_JSON_TYPES = ("application/json", "application/jwk-set+json")
_MAX_AGE = re.compile(r"(?:^|,)\s*max-age\s*=\s*\"?(\d+)", re.IGNORECASE)
_NO_CACHE = re.compile(r"(?:^|,)\s*(no-cache|no-store)\b", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class KeyCachePolicy:
    """Cache lifetimes and HTTP limits, in seconds."""

    min_ttl: float = 60.0
    max_ttl: float = 3600.0
    default_ttl: float = 300.0  # when the issuer sends no max-age
    unknown_kid_cooldown: float = 10.0  # also the wait after a failed fetch
    connect_timeout: float = 3.0
    read_timeout: float = 5.0
    max_body_bytes: int = 1 << 20

    def ttl(self, headers: httpx.Headers) -> float:
        control = headers.get("cache-control", "")
        match = _MAX_AGE.search(control)
        if match:
            ttl = float(match.group(1)) - _age(headers)
        elif _NO_CACHE.search(control):
            ttl = 0.0
        else:
            ttl = self.default_ttl
        return min(max(ttl, self.min_ttl), self.max_ttl)


def _age(headers: httpx.Headers) -> float:
    try:
        return max(0.0, float(headers.get("age", "0")))
    except ValueError:
        return 0.0


@dataclass(frozen=True, slots=True)
class KeySource:
    """Where one issuer's keys live: discovery from `issuer`, or a fixed `jwks` URL."""

    issuer: str
    jwks: str | None = None  # None means OIDC discovery


@dataclass(frozen=True, slots=True)
class CachedKey:
    """One parsed JWK plus the header fields key selection looks at."""

    jwk: jwt.PyJWK
    kid: str | None
    kty: str
    alg: str | None  # as declared by the JWK; None when it declared none
    use: str | None


@dataclass(slots=True)
class _Entry:
    keys: tuple[CachedKey, ...] = ()
    by_kid: dict[str, tuple[CachedKey, ...]] = field(default_factory=dict)
    fresh_until: float = float("-inf")
    last_attempt: float = float("-inf")
    last_kid_refetch: float = float("-inf")  # last fetch an unknown kid triggered
    last_failed: bool = False
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    def with_kid(self, kid: str | None) -> tuple[CachedKey, ...]:
        return self.keys if kid is None else self.by_kid.get(kid, ())

    def set_keys(self, keys: tuple[CachedKey, ...]) -> None:
        self.keys = keys
        by_kid: dict[str, tuple[CachedKey, ...]] = {}
        for key in keys:
            if key.kid is not None:
                by_kid[key.kid] = (*by_kid.get(key.kid, ()), key)
        self.by_kid = by_kid


class KeyCache:
    """Fetches and caches key sets; one fetch in flight per issuer."""

    def __init__(
        self,
        http: httpx.AsyncClient,
        *,
        clock: Callable[[], float] = time.time,
        policy: KeyCachePolicy | None = None,
    ) -> None:
        self._http = http
        self._clock = clock
        self.policy = policy or KeyCachePolicy()
        self._entries: dict[KeySource, _Entry] = {}

    def cached(self, source: KeySource, kid: str | None) -> tuple[CachedKey, ...] | None:
        """Keys of `source` matching `kid` from a fresh cached set; None when
        only `keys()` can answer (nothing fresh, or no such key)."""
        entry = self._entries.get(source)
        if entry is None or self._clock() >= entry.fresh_until:
            return None
        return entry.with_kid(kid) or None

    async def keys(self, source: KeySource, kid: str | None) -> tuple[CachedKey, ...]:
        """Keys of `source` matching `kid` (all keys when kid is None); may be empty."""
        found = self.cached(source, kid)
        if found is not None:
            return found
        entry = self._entries.setdefault(source, _Entry())
        if self._clock() < entry.fresh_until and not self._may_fetch(entry, unknown_kid=True):
            return ()  # fresh, no such key, and an unknown-kid refetch is cooling down
        async with entry.lock:
            # Another task may have refreshed the entry while we waited.
            found = entry.with_kid(kid)
            fresh = self._clock() < entry.fresh_until
            if fresh and found:
                return found
            if not self._may_fetch(entry, unknown_kid=fresh):
                return self._without_fetch(source, entry, kid)
            if fresh:
                entry.last_kid_refetch = self._clock()
            await self._refresh(source, entry, keep_stale=found)
            return entry.with_kid(kid)

    def _may_fetch(self, entry: _Entry, *, unknown_kid: bool) -> bool:
        # A failed fetch backs off for one cooldown. An unknown kid in a fresh
        # key set refetches at most once per cooldown, counted from the last
        # such refetch, so a rotation right after a routine fetch is still
        # picked up at once while junk kids cannot hammer the issuer.
        now = self._clock()
        cooldown = self.policy.unknown_kid_cooldown
        if entry.last_failed and now - entry.last_attempt < cooldown:
            return False
        return not unknown_kid or now - entry.last_kid_refetch >= cooldown

    def _without_fetch(
        self, source: KeySource, entry: _Entry, kid: str | None
    ) -> tuple[CachedKey, ...]:
        found = entry.with_kid(kid)
        if found or (entry.keys and not entry.last_failed):
            return found  # stale-but-known keys, or a kid the issuer did not publish
        raise IssuerUnavailable(f"Keys of {source.issuer} are unavailable; try again later")

    async def _refresh(
        self, source: KeySource, entry: _Entry, keep_stale: tuple[CachedKey, ...]
    ) -> None:
        entry.last_attempt = self._clock()
        entry.last_failed = True
        try:
            keys, ttl = await self._fetch(source)
        except IssuerUnavailable:
            if keep_stale:
                logger.warning("keeping cached keys of %s: refresh failed", source.issuer)
                return
            raise
        entry.set_keys(keys)
        entry.last_failed = False
        entry.fresh_until = self._clock() + ttl
        logger.info("fetched %d keys of %s (fresh for %.0f s)", len(keys), source.issuer, ttl)

    async def _fetch(self, source: KeySource) -> tuple[tuple[CachedKey, ...], float]:
        if source.jwks is None:
            return await self._fetch_oidc(source.issuer)
        if source.jwks.startswith("data:"):
            return _parse_jwks(_data_url_json(source.jwks), source.jwks), self.policy.max_ttl
        failed = f"Could not fetch JWKS from URL '{source.jwks}'"
        hint = ". Check that the URL is correct and accessible."
        body, headers = await self._get_json(source.jwks, failed, hint)
        return _parse_jwks(body, source.jwks), self.policy.ttl(headers)

    async def _fetch_oidc(self, issuer: str) -> tuple[tuple[CachedKey, ...], float]:
        failed = f"Auth provider discovery of {issuer} failed"
        url = issuer + ("" if issuer.endswith("/") else "/") + ".well-known/openid-configuration"
        document, _ = await self._get_json(url, failed)
        if not isinstance(document, dict) or document.get("issuer") != issuer:
            logger.warning("discovery of %s: document names another issuer", issuer)
            raise TokenInvalid(failed)
        jwks_uri = document.get("jwks_uri")
        if not isinstance(jwks_uri, str) or not jwks_uri.startswith(("http://", "https://")):
            raise TokenInvalid(failed)
        body, headers = await self._get_json(jwks_uri, failed)
        return _parse_jwks(body, jwks_uri), self.policy.ttl(headers)

    async def _get_json(self, url: str, failed: str, hint: str = "") -> tuple[Any, httpx.Headers]:
        """GET a JSON document; transient trouble is IssuerUnavailable, the rest TokenInvalid."""
        timeout = httpx.Timeout(self.policy.read_timeout, connect=self.policy.connect_timeout)
        try:
            response = await self._http.get(
                url, headers={"Accept": "application/json"}, timeout=timeout
            )
        except httpx.HTTPError as error:
            logger.warning("fetching %s failed: %s", url, type(error).__name__)
            raise IssuerUnavailable(f"{failed}: {type(error).__name__}{hint}") from error
        status = f"HTTP {response.status_code} {response.reason_phrase}"
        if response.status_code == 429 or response.status_code >= 500:
            raise IssuerUnavailable(f"{failed}: {status}{hint}")
        if response.status_code != 200:
            raise TokenInvalid(f"{failed}: {status}{hint}")
        content_type = response.headers.get("content-type", "").split(";")[0].strip().lower()
        if content_type and content_type not in _JSON_TYPES:
            raise TokenInvalid(f"{failed}: unexpected Content-Type {content_type!r}{hint}")
        if len(response.content) > self.policy.max_body_bytes:
            raise TokenInvalid(f"{failed}: response too large{hint}")
        try:
            return response.json(), response.headers
        except ValueError as error:
            raise TokenInvalid(f"{failed}: response is not JSON{hint}") from error


def _data_url_json(url: str) -> Any:
    header, _, payload = url.partition(",")
    try:
        raw = base64.b64decode(payload) if header.endswith(";base64") else unquote_to_bytes(payload)
        return json.loads(raw)
    except ValueError as error:
        raise TokenInvalid("Invalid JWKS data URL. Check the provider's jwks setting.") from error


def _parse_jwks(body: Any, url: str) -> tuple[CachedKey, ...]:
    """Parse with PyJWK one key at a time so one odd key does not void the set."""
    if not isinstance(body, dict) or not isinstance(body.get("keys"), list):
        raise TokenInvalid(f"Invalid JWKS response body from '{url}'")
    keys = []
    for data in body["keys"]:
        if not isinstance(data, dict):
            continue
        try:
            jwk = jwt.PyJWK(data)
        except jwt.PyJWTError as error:
            logger.info("skipping a JWK from %s: %s", url, error)
            continue
        keys.append(
            CachedKey(
                jwk=jwk,
                kid=data.get("kid") if isinstance(data.get("kid"), str) else None,
                kty=str(data.get("kty")),
                alg=data.get("alg") if isinstance(data.get("alg"), str) else None,
                use=data.get("use") if isinstance(data.get("use"), str) else None,
            )
        )
    return tuple(keys)
